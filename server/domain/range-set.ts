// Disjoint half-open element ranges [start, end), kept sorted: which parts of a tensor have arrived. Chunks
// usually arrive in order, so appending at the end is O(1); other inserts are a binary search plus a splice.

export class RangeSet {
  private starts: number[] = [];
  private ends: number[] = [];
  private count = 0;

  /** Elements covered. */
  get covered(): number {
    return this.count;
  }

  /** Index of the first range whose end is > start. */
  private firstEndingAfter(start: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid] <= start) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** True when [start, end) shares an element with a covered range. */
  overlaps(start: number, end: number): boolean {
    const i = this.firstEndingAfter(start);
    return i < this.starts.length && this.starts[i] < end;
  }

  /** Adds [start, end) that must not overlap; returns false (and changes nothing) when it does. */
  insertDisjoint(start: number, end: number): boolean {
    if (end <= start) return true;
    if (this.overlaps(start, end)) return false;
    this.union(start, end);
    return true;
  }

  /** Adds [start, end), merging with whatever it touches or overlaps. */
  union(start: number, end: number): void {
    if (end <= start) return;
    const n = this.starts.length;
    if (n === 0 || start > this.ends[n - 1]) {
      this.starts.push(start);
      this.ends.push(end);
      this.count += end - start;
      return;
    }
    // Ranges touching [start, end) (end >= start and start <= end) are merged into one.
    const i = this.firstEndingAfter(start - 1);
    let j = i;
    let s = start;
    let e = end;
    let removed = 0;
    while (j < n && this.starts[j] <= end) {
      s = Math.min(s, this.starts[j]);
      e = Math.max(e, this.ends[j]);
      removed += this.ends[j] - this.starts[j];
      j++;
    }
    this.starts.splice(i, j - i, s);
    this.ends.splice(i, j - i, e);
    this.count += e - s - removed;
  }

  /** True when [0, n) is covered. */
  isComplete(n: number): boolean {
    return this.count === n && (n === 0 || (this.starts.length === 1 && this.starts[0] === 0));
  }

  /** The first uncovered element below n, or -1. */
  firstGap(n: number): number {
    if (this.starts.length === 0) return n > 0 ? 0 : -1;
    if (this.starts[0] > 0) return 0;
    return this.ends[0] < n ? this.ends[0] : -1;
  }
}
