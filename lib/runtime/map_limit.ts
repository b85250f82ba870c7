/**
 * Concurrency-limited map, for downloads and uploads of lake objects.
 *
 * @module
 */

/**
 * Maps items with at most `limit` calls of `work` in flight.
 *
 * @param items The items.
 * @param limit Calls at once.
 * @param work The call, given the item and its index.
 * @returns The results, in the items' order.
 */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index], index);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
  return results;
}
