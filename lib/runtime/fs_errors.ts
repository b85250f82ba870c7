/**
 * Which file-system failures can heal and which cannot. A full disk may be
 * freed and a busy file released, so writes are retried; a read-only file
 * system, a denied permission or a file where a directory must be stay as
 * they are until a person acts, so retrying them only hides the fault.
 *
 * @module
 */

/** Why a file-system operation can never succeed as things stand, by `errno` name. */
const LASTING: Record<string, string> = {
  EROFS: "its file system is read-only",
  EACCES: "permission is denied",
  EPERM: "the operation is not permitted",
  ENOTDIR: "a part of its path is a file, not a directory",
  EISDIR: "it is a directory, not a file",
  ENAMETOOLONG: "its path is too long",
  ELOOP: "its path loops through symbolic links",
  EXDEV: "it spans two file systems",
};

/** Lasting only when creating a directory with its parents (`mkdir -p`). */
const LASTING_FOR_MKDIR: Record<string, string> = {
  EEXIST: "a file stands where a directory must be",
  ENOENT: "a parent directory is missing and cannot be created",
};

/**
 * Tells whether a file-system error is lasting (retrying cannot help) and
 * why, in words that complete "Cannot … as …".
 *
 * @param error What a `Deno` file-system call threw.
 * @param mkdir Whether the call created a directory and its parents; a
 * missing or clashing path is then lasting too (elsewhere it may be a
 * directory removed under the writer, which the next attempt recreates).
 * @returns The reason when the error is lasting, else `undefined` (the
 * error may heal, like a full disk, or is not a file-system error).
 */
export function lastingFsError(
  error: unknown,
  mkdir = false,
): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return undefined;
  return LASTING[code] ?? (mkdir ? LASTING_FOR_MKDIR[code] : undefined);
}
