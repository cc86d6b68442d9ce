/**
 * The database drivers are optional peer dependencies: an app installs the one its DATABASE_URL
 * names. Knex finds out only when it builds its client, and then logs its own stack trace and
 * throws a multi-line message; checking first turns a missing driver into one line that names the
 * `npm install` to run.
 */
import { createRequire } from 'node:module';
import { configError } from '../errors.js';

/**
 * Resolves from Knex's own location when it can (Knex is what loads the driver), else from the
 * kit's; the CommonJS build gets `import.meta.url` from tsup's shims.
 */
function driverResolvable(driver: string): boolean {
  const fromKit = createRequire(import.meta.url);
  const attempts: (() => string)[] = [() => createRequire(fromKit.resolve('knex')).resolve(driver), () => fromKit.resolve(driver)];
  for (const attempt of attempts) {
    try {
      attempt();
      return true;
    } catch {
      // try the next location
    }
  }
  return false;
}

/** Throws CONFIG_INVALID naming `npm install <driver>` when the driver for `url` is not installed. */
export function assertDatabaseDriver(driver: string, url: string, isDefault: boolean): void {
  if (driverResolvable(driver)) return;
  const shown = url.replace(/\/\/[^@/]*@/, '//***@');
  const where = isDefault ? `database ${shown}, the default when DATABASE_URL is not set` : `database ${shown}`;
  const other = isDefault ? ', or set DATABASE_URL to your database (mysql://…, postgres://…)' : '';
  throw configError(`the database driver ${driver} is not installed (${where}): run \`npm install ${driver}\`${other}`);
}
