/**
 * MariaDB's own count of the work it did, read from `SHOW GLOBAL STATUS` before and after a phase:
 * redo bytes written (`Innodb_lsn_current`), rows written and changed by the handler, and buffer
 * pool page reads and writes. Unlike CPU time these do not move with what else the machine does,
 * so they tell small differences in database work apart (the whole server is counted: run alone).
 */
import knexFactory, { type Knex } from 'knex';

export interface DbWork {
  /** Redo log bytes. */
  readonly redoBytes: number;
  /** Rows inserted plus rows updated or deleted by the handler. */
  readonly rowWrites: number;
  /** Buffer pool page read requests (logical reads). */
  readonly pageReads: number;
  /** Buffer pool page write requests. */
  readonly pageWrites: number;
}

const VARIABLES: Record<string, ReadonlyArray<keyof DbWork>> = {
  Innodb_lsn_current: ['redoBytes'],
  Handler_write: ['rowWrites'],
  Handler_update: ['rowWrites'],
  Handler_delete: ['rowWrites'],
  Innodb_buffer_pool_read_requests: ['pageReads'],
  Innodb_buffer_pool_write_requests: ['pageWrites'],
};

export interface DbWorkProbe {
  read(): Promise<DbWork>;
  close(): Promise<void>;
}

export function dbWorkProbe(url = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'): DbWorkProbe {
  const knex: Knex = knexFactory({ client: 'mysql2', connection: url, pool: { min: 0, max: 1 } });
  return {
    async read() {
      const names = Object.keys(VARIABLES).map((n) => `'${n}'`).join(', ');
      const [rows] = (await knex.raw(`SHOW GLOBAL STATUS WHERE Variable_name IN (${names})`)) as [Array<{ Variable_name: string; Value: string }>];
      const work = { redoBytes: 0, rowWrites: 0, pageReads: 0, pageWrites: 0 };
      for (const row of rows) for (const field of VARIABLES[row.Variable_name] ?? []) work[field] += Number(row.Value);
      return work;
    },
    close: () => knex.destroy(),
  };
}

/** The work between two readings, per call (one decimal). */
export function workPer(before: DbWork, after: DbWork, calls: number): DbWork {
  const per = (k: keyof DbWork): number => Math.round(((after[k] - before[k]) / Math.max(1, calls)) * 10) / 10;
  return { redoBytes: per('redoBytes'), rowWrites: per('rowWrites'), pageReads: per('pageReads'), pageWrites: per('pageWrites') };
}
