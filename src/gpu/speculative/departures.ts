/**
 * When finished rows leave the cache: rent or buy. A finished row stays in the cache, masked
 * out and fed nothing, costing its share of every forward (on a CPU cost follows rows; on a GPU
 * at large batch a row costs next to nothing); dropping finished rows is a gather of every
 * running row's cache (CPU, batch 64: ~27 ms, half a plain step). Rows of a wave of varied
 * lengths finish one per round or two, so dropping each at once cost 21% of a CPU run at batch
 * 64 with a queue. The rows are dropped once the rent they cost since the last drop reaches the
 * measured cost of a drop (the first: one forward's) — within 2× of the best schedule known in
 * advance — and in any case when requests join (joiners go after the running rows) or no row
 * runs.
 */
export class DepartureRent {
  private rent = 0;
  private dropCost: number | undefined;

  /**
   * A forward of `rows` cache rows of which `finished` are finished took `seconds`; true when
   * the finished rows should be dropped now.
   */
  carried(finished: number, rows: number, seconds: number): boolean {
    if (finished <= 0 || rows <= 0) return false;
    this.rent += (finished / rows) * seconds;
    return this.rent >= (this.dropCost ?? seconds);
  }

  /** The finished rows were dropped, in `seconds`. */
  dropped(seconds: number): void {
    this.dropCost = this.dropCost === undefined ? seconds : 0.8 * this.dropCost + 0.2 * seconds;
    this.rent = 0;
  }
}
