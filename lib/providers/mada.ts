/**
 * Mada SOAP gateway: an Openmind Networks "SoS" (SMS over SOAP) SubmitSM front end to an SMSC, as
 * hitrix's `sms_gateway_mada.go` used it. The kit generates and checks the code; Mada only delivers
 * the text. Protocol: ../shared/design/providers.md §3.
 *
 * No `SOAPAction` header is sent: hitrix never sent one to this gateway and the design notes call it
 * optional (other clients send `"SubmitSM"`); matching the known-working client is the safer choice.
 */
import Joi from 'joi';
import type { Logger, OtpProvider, ProviderSendInput, ProviderSendResult } from '../types.js';
import { classifyProviderError, isRetryableCode, SMPP_STATUS_NAMES } from './classify.js';
import type { ProviderContext } from './context.js';
import { lazy } from './lazy.js';
import { ProviderError } from './provider-error.js';
import { readXml } from './soap-xml.js';

export interface MadaOptions {
  /** Gateway URL; without a scheme `http://` is assumed (hitrix configs) and a warning is logged. */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** Alphanumeric sender name (source TON 5). */
  readonly sourceName: string;
}

export const madaOptionsSchema = Joi.object<MadaOptions>({
  url: Joi.string().min(1).required(),
  username: Joi.string().min(1).required(),
  password: Joi.string().min(1).required(),
  sourceName: Joi.string().min(1).max(11).required(),
});

export function madaOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): Partial<MadaOptions> {
  return {
    ...(env.MADA_URL ? { url: env.MADA_URL } : {}),
    ...(env.MADA_USERNAME ? { username: env.MADA_USERNAME } : {}),
    ...(env.MADA_PASSWORD ? { password: env.MADA_PASSWORD } : {}),
    ...(env.MADA_SOURCE_NAME ? { sourceName: env.MADA_SOURCE_NAME } : {}),
  };
}

const PROVIDER = 'Mada';
const NS_SOAPENV = 'http://schemas.xmlsoap.org/soap/envelope/';
const NS_ENCODING = 'http://schemas.xmlsoap.org/soap/encoding/';
const NS_SOS = 'http://www.openmindnetworks.com/SoS';
const NS_XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const NS_XSD = 'http://www.w3.org/2001/XMLSchema';
/** A SubmitSM answer is a few hundred bytes; anything far larger is not the gateway talking. */
const MAX_RESPONSE_BYTES = 256 * 1024;

/**
 * Turns `MADA_URL` into a request URL. hitrix configs hold `host[:port]/path` and hitrix always
 * prefixed `http://`; we do the same (with one warning, since the password then travels in clear).
 */
function resolveUrl(raw: string, logger: Logger): URL {
  const value = raw.trim();
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value);
  let url: URL;
  try {
    url = new URL(hasScheme ? value : `http://${value}`);
  } catch (error) {
    // The value is only echoed when it cannot hold credentials (user:pass@host).
    const shown = value.includes('@') ? '(value hidden: it contains "@")' : JSON.stringify(value);
    throw new Error(`Mada provider: MADA_URL (options.mada.url) is not a valid URL: ${shown}; expected e.g. https://gateway.example/sos`, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`Mada provider: MADA_URL (options.mada.url) must use http:// or https://, not ${url.protocol}//`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error('Mada provider: MADA_URL (options.mada.url) must not contain credentials; set MADA_USERNAME and MADA_PASSWORD instead');
  }
  if (!hasScheme) {
    logger.warn(
      { provider: PROVIDER, url: `${url.protocol}//${url.host}${url.pathname}` },
      'MADA_URL has no scheme: assuming http:// as hitrix did (credentials travel unencrypted); set an explicit https:// or http:// URL',
    );
  }
  return url;
}

const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Escapes a value for XML text and attributes; drops control characters that XML 1.0 cannot carry at all. */
function xmlEscape(value: string): string {
  return value.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '').replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);
}

/** The SubmitSM request exactly as hitrix sent it (SOAP 1.1, no XML declaration, no Header). */
function submitSmXml(sourceName: string, destination: string, text: string): string {
  return (
    `<soapenv:Envelope xmlns:xsi="${NS_XSI}" xmlns:xsd="${NS_XSD}" xmlns:soapenv="${NS_SOAPENV}" xmlns:sos="${NS_SOS}">` +
    `<soapenv:Body><sos:SubmitSM soapenv:encodingStyle="${NS_ENCODING}"><smRequest>` +
    `<source><ton>5</ton><npi>1</npi><addr>${xmlEscape(sourceName)}</addr></source>` +
    `<destination><ton>1</ton><npi>1</npi><addr>${xmlEscape(destination)}</addr></destination>` +
    `<shortMessage><stringData>${xmlEscape(text)}</stringData></shortMessage>` +
    `<registeredDelivery>1</registeredDelivery>` +
    `</smRequest></sos:SubmitSM></soapenv:Body></soapenv:Envelope>`
  );
}

/** The HTTP client, imported when Mada first sends (like the other providers' SDKs). */
const libraries = lazy(async () => {
  const { default: fetch } = await import('node-fetch');
  return { fetch };
});

function child(node: unknown, name: string): unknown {
  return typeof node === 'object' && node !== null && !Array.isArray(node) ? (node as Record<string, unknown>)[name] : undefined;
}

function text(node: unknown): string | undefined {
  return typeof node === 'string' ? node : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

/** Gateway-supplied text for an error message: one line, short, and never the password, message or code. */
function scrub(value: string, secrets: readonly string[]): string {
  let out = value.replace(/\s+/g, ' ').trim();
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join('***');
  return out.slice(0, 200);
}

interface Answer {
  readonly httpStatus: number;
  readonly contentType: string;
  readonly body: string;
}

function badResponse(message: string, retryable: boolean, httpStatus: number, cause?: unknown): ProviderError {
  return new ProviderError({ provider: PROVIDER, kind: 'bad-response', retryable, message: `Mada: ${message} (HTTP ${httpStatus})`, httpStatus, cause });
}

/**
 * Reads the gateway's answer. Retry policy for answers that are not a SubmitSMResponse
 * ('bad-response'):
 * - 5xx/429: retry (the gateway or a proxy in front of it is struggling);
 * - other 4xx (404, 405, 415…): no retry, MADA_URL or the request shape is wrong and stays wrong;
 * - 2xx with an empty body or XML that breaks off: retry (usually a cut connection);
 * - 2xx with HTML, non-XML (JSON, text) or well-formed XML of another shape: no retry, MADA_URL
 *   points at something other than the SoS endpoint and the same request gets the same answer.
 */
function interpret(answer: Answer, destination: string, sourceName: string, secrets: readonly string[]): ProviderSendResult {
  const { httpStatus, contentType } = answer;
  const serverSide = httpStatus >= 500 || httpStatus === 429;
  const clientSide = httpStatus >= 400 && !serverSide;
  if (httpStatus === 401 || httpStatus === 403) {
    throw new ProviderError({
      provider: PROVIDER,
      kind: 'rejected',
      retryable: false,
      httpStatus,
      message: `Mada: HTTP ${httpStatus}, the gateway refused the credentials (check MADA_USERNAME and MADA_PASSWORD)`,
    });
  }
  if (httpStatus >= 300 && httpStatus < 400) {
    // Redirects are not followed: a POST turned into a GET by a 301/302 would lose the message.
    throw badResponse('the gateway answered with a redirect; set MADA_URL to the final address (often https://)', false, httpStatus);
  }
  const body = answer.body.trim();
  if (body === '') throw badResponse('empty answer', !clientSide, httpStatus);
  // SOAP 1.1 forbids a DTD in a message, so a DOCTYPE means HTML or something else; refusing it also
  // keeps entity declarations away from the parser.
  if (/^<html[\s>]/i.test(body) || /<!DOCTYPE/i.test(body) || contentType.toLowerCase().includes('text/html')) {
    throw badResponse('HTML instead of a SOAP answer', serverSide, httpStatus);
  }
  // A strict reader (lib/providers/soap-xml.ts): truncated or malformed XML is an error, not a partial document.
  const read = readXml(body);
  if (!read.ok) {
    const truncated = body.startsWith('<') && !clientSide;
    throw badResponse(`the answer is not well-formed XML (${read.code} at line ${read.line})`, truncated || serverSide, httpStatus);
  }
  const doc = read.doc;
  const soapBody = child(child(doc, 'Envelope'), 'Body');
  const fault = child(soapBody, 'Fault');
  if (fault !== undefined) {
    const faultcode = scrub(text(child(fault, 'faultcode')) ?? '?', secrets);
    const faultstring = scrub(text(child(fault, 'faultstring')) ?? '', secrets);
    // SOAP 1.1 sends faults with HTTP 500 (retry, per the rule above); a fault on another status is
    // retried unless the gateway blames the request ("Client"), which we would send unchanged.
    const retryable = serverSide || !/(^|:)Client(\.|$)/.test(faultcode);
    throw badResponse(`SOAP Fault ${faultcode}${faultstring === '' ? '' : `: ${faultstring}`}`, retryable, httpStatus);
  }
  const smResponse = child(child(soapBody, 'SubmitSMResponse'), 'smResponse');
  const rawStatus = text(child(smResponse, 'commandStatus'))?.trim();
  if (rawStatus === undefined || !/^\d{1,10}$/.test(rawStatus)) {
    const what = rawStatus === undefined ? 'no Envelope/Body/SubmitSMResponse/smResponse/commandStatus' : 'a commandStatus that is not a decimal number';
    throw badResponse(`the answer has ${what}`, serverSide, httpStatus);
  }
  const commandStatus = String(Number.parseInt(rawStatus, 10));
  const messageId = nonEmpty(text(child(smResponse, 'messageId')));
  const statusDescription = nonEmpty(text(child(smResponse, 'statusDescription')));
  if (commandStatus !== '0') {
    const description = SMPP_STATUS_NAMES[commandStatus] ?? (statusDescription === undefined ? 'unknown command_status' : scrub(statusDescription, secrets));
    throw new ProviderError({
      provider: PROVIDER,
      kind: 'rejected',
      retryable: isRetryableCode(PROVIDER, commandStatus, httpStatus),
      providerCode: commandStatus,
      httpStatus,
      message: `Mada[${commandStatus}]: ${description}`,
    });
  }
  // commandStatus 0 is the gateway's own acceptance, so it counts even on an odd HTTP status (hitrix
  // ignores the status too); treating it as a failure would send the SMS twice.
  return {
    ...(messageId === undefined ? {} : { ref: messageId }),
    request: { destination, sourceName },
    response: { commandStatus, messageId, statusDescription },
  };
}

function refuse(message: string): ProviderError {
  return new ProviderError({ provider: PROVIDER, kind: 'rejected', retryable: false, message });
}

export function madaProvider(options: MadaOptions, ctx: ProviderContext): OtpProvider {
  const url = resolveUrl(options.url, ctx.logger);
  if (options.username.includes(':')) {
    // Basic auth splits user and password at the first colon (RFC 7617).
    throw new Error('Mada provider: MADA_USERNAME (options.mada.username) must not contain ":"');
  }
  const authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`, 'utf8').toString('base64')}`;
  const { sourceName, password } = options;

  async function send(input: ProviderSendInput): Promise<ProviderSendResult> {
    if (input.channel !== 'sms') throw refuse('Mada delivers text messages only, not calls');
    const destination = input.phone.startsWith('+') ? input.phone.slice(1) : input.phone;
    if (!/^[1-9]\d{5,14}$/.test(destination)) throw refuse('Mada: the destination is not an E.164 number');
    const secrets = [password, input.text, input.code];
    const libs = await libraries();
    let answer: Answer;
    try {
      const response = await libs.fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'text/xml', Authorization: authorization },
        body: submitSmXml(sourceName, destination, input.text),
        signal: input.signal,
        redirect: 'manual',
        size: MAX_RESPONSE_BYTES,
      });
      answer = { httpStatus: response.status, contentType: response.headers.get('content-type') ?? '', body: await response.text() };
    } catch (error) {
      // Aborts (timeouts under callProvider) and socket errors; node-fetch messages name only the URL.
      throw classifyProviderError(PROVIDER, error);
    }
    return interpret(answer, destination, sourceName, secrets);
  }

  return { name: PROVIDER, channels: ['sms'], ownsCode: false, send };
}
