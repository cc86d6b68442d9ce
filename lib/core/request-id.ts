/**
 * Request ids: RFC 9562 UUID version 7 (a 48-bit Unix millisecond timestamp, then random bits).
 * Time-ordered, so a new request's id lands at the end of the unique index instead of on a random
 * page of it: with millions of rows kept (retention), inserts stay as fast as on an empty table.
 * The creation time they reveal is no secret (a send's answer carries `expiresAt`). Pure.
 */

/** `random` supplies at least 10 CSPRNG bytes. */
export function uuidV7(nowMs: number, random: Uint8Array): string {
  if (random.length < 10) throw new RangeError('uuidV7 needs 10 random bytes');
  const bytes = new Uint8Array(16);
  let ms = Math.max(0, Math.floor(nowMs));
  for (let i = 5; i >= 0; i -= 1) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = 0x70 | ((random[0] as number) & 0x0f);
  bytes[7] = random[1] as number;
  bytes[8] = 0x80 | ((random[2] as number) & 0x3f);
  for (let i = 0; i < 7; i += 1) bytes[9 + i] = random[3 + i] as number;
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
