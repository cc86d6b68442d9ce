/** Types of the loopback Twilio Verify fake (twilio-fake.ts). */
import type { IncomingMessage } from 'node:http';

export type TwilioFakeOp = 'send' | 'check';

/** How the fake answers a request; `delayMs` waits before answering. */
export type TwilioFakeBehaviour =
  /** Twilio's normal logic (create verification, check the code). */
  | { readonly type: 'ok'; readonly delayMs?: number }
  /** A legacy Twilio error body `{code, message, more_info, status}` with this HTTP status (and `Retry-After`, when given). */
  | { readonly type: 'error'; readonly status: number; readonly code: number; readonly message?: string; readonly retryAfter?: string; readonly delayMs?: number }
  /** Exactly this status and body (HTML, empty, broken JSON…). */
  | { readonly type: 'raw'; readonly status: number; readonly body: string; readonly contentType?: string; readonly delayMs?: number }
  /** Never answers (until the client gives up or the fake is closed). */
  | { readonly type: 'hang' };

export interface TwilioFakeRequest {
  readonly op: TwilioFakeOp | 'unknown';
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawBody: string;
  /** The form body, parsed with URLSearchParams. */
  readonly form: Readonly<Record<string, string>>;
  /** Set when the client closed the connection before the answer was written. */
  aborted: boolean;
}

/** How the fake writes the legacy `valid` field. */
export type TwilioFakeValidField = 'boolean' | 'null' | 'absent';

export interface TwilioFakeVerification {
  readonly sid: string;
  readonly to: string;
  channel: string;
  readonly code: string;
  status: 'pending' | 'approved' | 'canceled' | 'max_attempts_reached' | 'expired' | 'deleted' | 'failed';
  checks: number;
  sends: number;
  readonly createdAt: Date;
}

export interface TwilioFakeOptions {
  readonly accountSid?: string;
  readonly authToken?: string;
  readonly serviceSid?: string;
  /** Digits of the generated codes. @default 6 */
  readonly codeLength?: number;
  /** Wrong checks allowed before 60202 and deletion. @default 5 */
  readonly maxChecks?: number;
  /** Sends per number before 60203. @default 5 */
  readonly maxSends?: number;
  /**
   * How `valid` appears in Verification and VerificationCheck answers: a boolean (as Twilio sends
   * it today), `null` (the spec marks it nullable, "legacy: use status instead") or left out.
   * @default 'boolean'
   */
  readonly valid?: TwilioFakeValidField;
  /** A verification's lifetime; a lock after 60202/60203 lasts until it ends. @default 600000 (10 min) */
  readonly ttlMs?: number;
  /** Epoch ms, for expiry and locks. @default Date.now */
  readonly clock?: () => number;
}

export interface TwilioFake {
  /** Origin to pass as `baseUrl`, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  readonly accountSid: string;
  readonly authToken: string;
  readonly serviceSid: string;
  /** Every request received, in order. */
  readonly requests: TwilioFakeRequest[];
  /** Every verification created, in order (also the dead ones). */
  readonly verifications: TwilioFakeVerification[];
  /** The behaviour for every following request of `op` (both ops when omitted). */
  setBehaviour(behaviour: TwilioFakeBehaviour, op?: TwilioFakeOp): void;
  /** A one-shot behaviour for the next request of `op`; queued ones run before the standing behaviour. */
  queueBehaviour(behaviour: TwilioFakeBehaviour, op?: TwilioFakeOp): void;
  /** The code of the live verification of `phone` (what the SMS or call said), if any. */
  codeFor(phone: string): string | undefined;
  /** Makes the verifications of `phone` expire, as after Twilio's 10 minutes (this also ends a 60202/60203 lock). */
  expire(phone: string): void;
  /** Changes how `valid` is written from now on (until `reset()`). */
  setValidField(mode: TwilioFakeValidField): void;
  /** Milliseconds a 60202/60203 lock of `phone` still runs (0 when none). */
  lockedFor(phone: string): number;
  /** Resolves once `count` requests were received (or rejects after `timeoutMs`). */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  /** Forgets requests, verifications and behaviours. */
  reset(): void;
  close(): Promise<void>;
}
