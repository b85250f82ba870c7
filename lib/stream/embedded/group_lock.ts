/**
 * One running consumer per consumer group: the embedded stream has no broker
 * to split partitions between members, so a second member would read every
 * partition again. A running consumer holds an exclusive lock on
 * `offsets/<group>.lock` (with its process id written in it); the operating
 * system releases the lock when the holder closes it or dies, so a crashed
 * consumer never blocks the next one.
 *
 * @module
 */

/**
 * Takes the group's lock, or refuses at once.
 *
 * @param path The group's lock file.
 * @param group The group, for the message.
 * @param topicDir The topic's directory, for the message.
 * @returns The open lock file: close it to release the lock.
 * @throws {Error} When another consumer, in this process or another, holds it.
 */
export async function lockGroup(
  path: string,
  group: string,
  topicDir: string,
): Promise<Deno.FsFile> {
  const file = await Deno.open(path, { read: true, write: true, create: true });
  try {
    if (!await file.tryLock(true)) {
      const holder = (await Deno.readTextFile(path)).trim();
      throw new Error(
        `Cannot run a consumer in group '${group}' of the embedded stream ${topicDir} as another consumer of the group is running (${
          /^\d+$/.test(holder) ? `process ${holder}` : "its process id unknown"
        }, lock ${path}): stop it first, or use another group`,
      );
    }
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
    return file;
  } catch (error) {
    file.close();
    throw error;
  }
}
