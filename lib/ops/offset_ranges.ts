/**
 * A set of stream offsets kept as sorted, disjoint runs of consecutive
 * offsets, so that reconciling a partition costs memory per gap, not per
 * event: ten million offsets without a gap are one run.
 *
 * @module
 */

/** A run of consecutive offsets, both ends included. */
export type OffsetRun = readonly [first: number, last: number];

/** A set of offsets as runs. */
export class OffsetRanges {
  /** Sorted, disjoint and not adjacent: two runs never touch. */
  #runs: [number, number][] = [];

  /**
   * Creates the set from runs in any order (they may overlap or touch).
   *
   * @param runs The runs.
   */
  constructor(runs: Iterable<OffsetRun> = []) {
    for (const [first, last] of runs) this.addRun(first, last);
  }

  /** How many offsets the set holds. */
  get size(): number {
    let size = 0;
    for (const [first, last] of this.#runs) size += last - first + 1;
    return size;
  }

  /** The runs, in order. */
  runs(): readonly OffsetRun[] {
    return this.#runs;
  }

  /** Adds one offset. */
  add(offset: number): void {
    this.addRun(offset, offset);
  }

  /**
   * Adds the offsets `first..last`. Adding after the last run, as offsets
   * read in order are, takes constant time.
   */
  addRun(first: number, last: number): void {
    if (last < first) return;
    const runs = this.#runs;
    const tail = runs[runs.length - 1];
    if (tail === undefined || first > tail[1] + 1) {
      runs.push([first, last]);
      return;
    }
    if (first >= tail[0]) {
      tail[1] = Math.max(tail[1], last);
      return;
    }
    // The first run that ends at or after first - 1, and the first that
    // starts after last + 1: everything between merges.
    const from = this.#firstEndingFrom(first - 1);
    let to = from;
    while (to < runs.length && runs[to][0] <= last + 1) to++;
    if (from === to) {
      runs.splice(from, 0, [first, last]);
      return;
    }
    const merged: [number, number] = [
      Math.min(first, runs[from][0]),
      Math.max(last, runs[to - 1][1]),
    ];
    runs.splice(from, to - from, merged);
  }

  /** Whether the set holds `offset`. */
  has(offset: number): boolean {
    const index = this.#firstEndingFrom(offset);
    const run = this.#runs[index];
    return run !== undefined && run[0] <= offset;
  }

  /** The offsets of this set that `other` does not hold. */
  minus(other: OffsetRanges): OffsetRanges {
    const result = new OffsetRanges();
    const theirs = other.#runs;
    let j = 0;
    for (const [first, last] of this.#runs) {
      let from = first;
      while (j < theirs.length && theirs[j][1] < from) j++;
      let k = j;
      while (from <= last) {
        const run = theirs[k];
        if (run === undefined || run[0] > last) {
          result.addRun(from, last);
          break;
        }
        if (run[0] > from) result.addRun(from, run[0] - 1);
        from = run[1] + 1;
        k++;
      }
    }
    return result;
  }

  /** The offsets of this set or `other`. */
  union(other: OffsetRanges): OffsetRanges {
    const result = new OffsetRanges();
    const all = [...this.#runs, ...other.#runs].sort((a, b) => a[0] - b[0]);
    for (const [first, last] of all) result.addRun(first, last);
    return result;
  }

  /** How many offsets of this set lie in `first..last`. */
  countWithin(first: number, last: number): number {
    let count = 0;
    if (last < first) return 0;
    for (
      let i = this.#firstEndingFrom(first);
      i < this.#runs.length && this.#runs[i][0] <= last;
      i++
    ) {
      const [a, b] = this.#runs[i];
      count += Math.min(b, last) - Math.max(a, first) + 1;
    }
    return count;
  }

  /** The index of the first run whose end is at or after `offset`. */
  #firstEndingFrom(offset: number): number {
    let low = 0;
    let high = this.#runs.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#runs[mid][1] < offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
