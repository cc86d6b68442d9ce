/**
 * When a new request supersedes the number's older ones. Pure.
 *
 * Every request made for a number is first recorded on the number's counter row, in the statement
 * that takes its counters (`made_at` on the database's clock; migration 0015), and that statement
 * answers how long ago the record before was made. Verify only ever checks a number's newest
 * request, but an older one must not stay pending (the poller would still deliver it, its sealed
 * code would stay, and it would end as expired, not superseded). Three cases:
 *
 * - **skip**: no record within a request's lifetime plus a margin (`recordKeepMs`), so no older
 *   request can still be live, and this insert came within `INSERT_BOUND_MS` of the take. The
 *   supersede would change nothing; it is the last statement of a send's batch that usually does.
 * - **after**: the record before is younger than `INSERT_BOUND_MS`: a request made just before may
 *   have skipped and still be inserting. Wait until its insert must have landed (its take came
 *   first, and a skip needs the insert within the bound of the take), then supersede every pending
 *   request older than the number's newest, which may be this one.
 * - **now**: otherwise, as before: supersede the older requests at once. A skipper recorded before
 *   is more than the bound older, so its insert has landed, with a smaller id.
 *
 * Durations on one process use its monotonic clock; records compare on the database's clock: no
 * two instances' clocks are compared. A request's expiry is fixed before its take, so it ends
 * within its lifetime of its record; the margin covers instances' clocks, on which expiry is judged.
 */
/** A take must be followed by its insert within this long for the supersede to be skipped. */
export const INSERT_BOUND_MS = 250;

/** Clock margin on top of a request's lifetime before a record no longer counts. */
const RECORD_MARGIN_MS = 5 * 60_000;

/** How long a number's record counts: a request's lifetime plus the margin. */
export const recordKeepMs = (ttlSeconds: number): number => ttlSeconds * 1000 + RECORD_MARGIN_MS;

export type SupersedePlan = { readonly kind: 'skip' } | { readonly kind: 'now' } | { readonly kind: 'after'; /** Monotonic time (performance.now()) to wait for. */ readonly at: number };

export interface SupersedeFacts {
  /** What the take answered of the record before; undefined when it could not tell (MySQL without RETURNING). */
  readonly made: { readonly sinceMs: number | null } | undefined;
  /** `recordKeepMs` of this instance. */
  readonly keepMs: number;
  /** Monotonic time before the take was sent. */
  readonly takeSentAt: number;
  /** Monotonic time after the take answered. */
  readonly takeAnsweredAt: number;
  /** Monotonic time after the insert answered. */
  readonly insertedAt: number;
}

export function supersedePlan(facts: SupersedeFacts): SupersedePlan {
  const { made } = facts;
  if (made === undefined) return { kind: 'now' };
  if (made.sinceMs === null || made.sinceMs > facts.keepMs) return facts.insertedAt - facts.takeSentAt <= INSERT_BOUND_MS ? { kind: 'skip' } : { kind: 'now' };
  if (made.sinceMs <= INSERT_BOUND_MS) return { kind: 'after', at: facts.takeAnsweredAt + INSERT_BOUND_MS - Math.max(0, made.sinceMs) };
  return { kind: 'now' };
}
