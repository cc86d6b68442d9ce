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
  /**
   * Index page reorganizations (`innodb_metrics`' `index_page_reorg_attempts`, enabled by the probe):
   * an UPDATE that makes a row longer often rewrites its whole page, the cost found twice before.
   */
  readonly pageReorgs: number;
  /** Statements the server ran (`Questions`; the probe's own two per reading count too). */
  readonly statements: number;
  /** Transactions committed (`Handler_commit`; autocommit statements count one each). */
  readonly commits: number;
  /** Bytes the server received from its clients (`Bytes_received`): SQL text and bindings. */
  readonly bytesIn: number;
  /** Bytes the server sent to its clients (`Bytes_sent`): results, RETURNING rows. */
  readonly bytesOut: number;
}

const VARIABLES: Record<string, ReadonlyArray<keyof DbWork>> = {
  Innodb_lsn_current: ['redoBytes'],
  Handler_write: ['rowWrites'],
  Handler_update: ['rowWrites'],
  Handler_delete: ['rowWrites'],
  Innodb_buffer_pool_read_requests: ['pageReads'],
  Innodb_buffer_pool_write_requests: ['pageWrites'],
  Questions: ['statements'],
  Handler_commit: ['commits'],
  Bytes_received: ['bytesIn'],
  Bytes_sent: ['bytesOut'],
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
      const work = { redoBytes: 0, rowWrites: 0, pageReads: 0, pageWrites: 0, pageReorgs: 0, statements: 0, commits: 0, bytesIn: 0, bytesOut: 0 };
      for (const row of rows) for (const field of VARIABLES[row.Variable_name] ?? []) work[field] += Number(row.Value);
      await knex.raw("SET GLOBAL innodb_monitor_enable = 'index_page_reorg_attempts'");
      const [metrics] = (await knex.raw("SELECT `count` AS n FROM information_schema.innodb_metrics WHERE name = 'index_page_reorg_attempts'")) as [Array<{ n: unknown }>];
      work.pageReorgs = Number(metrics[0]?.n ?? 0);
      return work;
    },
    close: () => knex.destroy(),
  };
}

/** The work between two readings, per call (one decimal). */
export function workPer(before: DbWork, after: DbWork, calls: number): DbWork {
  const per = (k: keyof DbWork, places = 1): number => Math.round(((after[k] - before[k]) / Math.max(1, calls)) * 10 ** places) / 10 ** places;
  return { redoBytes: per('redoBytes'), rowWrites: per('rowWrites'), pageReads: per('pageReads'), pageWrites: per('pageWrites'), pageReorgs: per('pageReorgs', 3), statements: per('statements', 2), commits: per('commits', 2), bytesIn: per('bytesIn', 0), bytesOut: per('bytesOut', 0) };
}
