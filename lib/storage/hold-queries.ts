/**
 * The fraud guard's rows: the breaker's range holds (`otp_holds`, migration 0009) and what
 * `otp.holds()` lists of the number locks (the wrong-code lock's counter rows, the failure-budget
 * rows). A hold is recorded or renewed by a conditional statement (insert-if-absent, or an update
 * guarded by the level and `updated_at` read), so of several instances judging the same range at
 * once exactly one records each level.
 */
import type { Knex } from 'knex';
import { counterRowKey } from './counter-store.js';
import { dialectOf } from './db.js';
import type { OtpTableNames } from './migrations.js';
import { changedRows, num, type Raw } from './sql.js';

export interface HoldRow {
  readonly target: string;
  readonly reason: string;
  readonly level: number;
  readonly since: number;
  readonly until: number;
  readonly updatedAt: number;
}

function holdOf(row: Raw): HoldRow {
  return { target: String(row.target), reason: String(row.reason), level: num(row.level), since: num(row.held_since), until: num(row.held_until), updatedAt: num(row.updated_at) };
}

export async function readHold(knex: Knex, t: OtpTableNames, target: string): Promise<HoldRow | undefined> {
  const row: Raw | undefined = await knex<Raw>(t.holds).where('target', target).first();
  return row === undefined ? undefined : holdOf(row);
}

/** Holds still running at `now`, longest first. */
export async function listHolds(knex: Knex, t: OtpTableNames, now: number): Promise<HoldRow[]> {
  const rows: Raw[] = await knex<Raw>(t.holds).where('held_until', '>', now).orderBy('held_until', 'desc').limit(1000);
  return rows.map(holdOf);
}

/** The targets of the holds running at `now` (for the early release on a verified code). */
export async function heldTargets(knex: Knex, t: OtpTableNames, now: number): Promise<string[]> {
  const rows: Raw[] = await knex<Raw>(t.holds).where('held_until', '>', now).limit(10_000).select('target');
  return rows.map((r) => String(r.target));
}

export interface HoldPlan {
  readonly target: string;
  readonly reason: string;
  readonly now: number;
  /** Seconds of the hold at a level (1 = the first). */
  readonly secondsFor: (level: number) => number;
  /** A previous hold that ended longer ago than this (ms) is forgotten: the next starts at level 1. */
  readonly memoryMs: number;
}

export interface RecordedHold {
  readonly level: number;
  readonly seconds: number;
  readonly since: number;
  readonly until: number;
}

/**
 * Records the next hold of a range: level 1 when it has none (or only one long over), else one
 * level up (a renewal). Undefined when another instance recorded it between the read and the write.
 */
export async function recordHold(db: Knex, t: OtpTableNames, plan: HoldPlan): Promise<RecordedHold | undefined> {
  const { target, reason, now } = plan;
  const current = await readHold(db, t, target);
  if (current === undefined) {
    const seconds = plan.secondsFor(1);
    const until = now + seconds * 1000;
    const insert = dialectOf(db) === 'mysql' ? 'INSERT IGNORE INTO ?? (??, ??, ??, ??, ??, ??) VALUES (?, ?, ?, ?, ?, ?)' : 'INSERT INTO ?? (??, ??, ??, ??, ??, ??) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (??) DO NOTHING';
    const bindings: Knex.RawBinding[] = [t.holds, 'target', 'reason', 'level', 'held_since', 'held_until', 'updated_at', target, reason, 1, now, until, now];
    if (dialectOf(db) !== 'mysql') bindings.push('target');
    const inserted = changedRows(dialectOf(db), await db.raw(insert, bindings));
    return inserted === 1 ? { level: 1, seconds, since: now, until } : undefined;
  }
  const forgotten = current.until + plan.memoryMs <= now;
  const level = forgotten ? 1 : current.level + 1;
  const seconds = plan.secondsFor(level);
  const until = Math.max(now + seconds * 1000, current.until > now ? current.until : 0);
  const since = current.until > now ? current.since : now;
  const changed = await db(t.holds)
    .where({ target, level: current.level, updated_at: current.updatedAt })
    .update({ reason, level, held_since: since, held_until: until, updated_at: now === current.updatedAt ? now + 1 : now });
  return changed === 1 ? { level, seconds, since, until } : undefined;
}

/** Deletes a range's hold row and its breaker counter row; answers how many hold rows went. */
export async function deleteHold(db: Knex, t: OtpTableNames, target: string, counterName: string | undefined): Promise<number> {
  const deleted = await db(t.holds).where('target', target).del();
  if (counterName !== undefined) await db(t.limits).where('key', counterRowKey(counterName, target)).del();
  return deleted;
}

/** A number's lock as stored: the wrong-code lock's counter row, or the failure budget's row. */
export interface NumberLockRow {
  readonly phone: string;
  readonly lock: 'verifyLock' | 'failureBudget';
  /** Wrong-code locks so far (the escalation level), for the verify lock. */
  readonly level: number;
  readonly until: number;
}

export interface NumberLockQuery {
  /** The wrong-code lock's counter name and threshold (undefined when the lock is off). */
  readonly verifyLock: { readonly counter: string; readonly levelCounter: string; readonly failures: number } | undefined;
  readonly failureBudget: boolean;
  /** Epoch ms on the counters' clock (`Date.now()`) and on the kit's clock (the failure budget). */
  readonly wallNow: number;
  readonly now: number;
  /** Only this number (a release), or every locked number (a listing). */
  readonly phone?: string;
}

/** Numbers locked now: counter rows over the wrong-code threshold, and failure-budget locks. */
export async function listNumberLocks(knex: Knex, t: OtpTableNames, q: NumberLockQuery): Promise<NumberLockRow[]> {
  const out: NumberLockRow[] = [];
  if (q.verifyLock !== undefined) {
    const { counter, levelCounter, failures } = q.verifyLock;
    const query = knex<Raw>(t.limits).where('points', '>', failures).andWhere('expire', '>', q.wallNow).limit(1000).select('key', 'expire');
    if (q.phone === undefined) query.andWhere('key', 'like', `${counter}:+%`);
    else query.andWhere('key', counterRowKey(counter, q.phone));
    const rows: Raw[] = await query;
    const phones = rows.map((r) => String(r.key).slice(counter.length + 1));
    const levels: Raw[] = phones.length === 0 ? [] : await knex<Raw>(t.limits).whereIn('key', phones.map((p) => counterRowKey(levelCounter, p))).select('key', 'points');
    const levelOf = new Map(levels.map((r) => [String(r.key).slice(levelCounter.length + 1), num(r.points)]));
    rows.forEach((r, i) => {
      const phone = phones[i] as string;
      out.push({ phone, lock: 'verifyLock', level: levelOf.get(phone) ?? 1, until: num(r.expire) });
    });
  }
  if (q.failureBudget) {
    const query = knex<Raw>(t.failures).where('locked_until', '>', q.now).limit(1000).select('phone', 'locked_until');
    if (q.phone !== undefined) query.andWhere('phone', q.phone);
    const rows: Raw[] = await query;
    for (const r of rows) out.push({ phone: String(r.phone), lock: 'failureBudget', level: 1, until: num(r.locked_until) });
  }
  return out;
}

/** Lifts a number's locks: its wrong-code lock and level rows, and its failure-budget row. */
export async function deleteNumberLocks(db: Knex, t: OtpTableNames, phone: string, counters: readonly string[], failureBudget: boolean): Promise<void> {
  if (counters.length > 0) await db(t.limits).whereIn('key', counters.map((c) => counterRowKey(c, phone))).del();
  if (failureBudget) await db(t.failures).where('phone', phone).del();
}
