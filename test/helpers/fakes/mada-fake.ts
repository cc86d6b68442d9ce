/**
 * A loopback fake of the Mada SoS gateway (SOAP SubmitSM), for unit, end-to-end and retry tests.
 *
 * It is a real HTTP server on 127.0.0.1 that checks what the real gateway would care about (POST,
 * path, Basic credentials, `text/xml`, every element of the SubmitSM envelope and its namespaces)
 * and answers `200 text/xml` with the SubmitSMResponse envelope quoted in
 * ../shared/design/providers.md §3. What it answers is configurable per call:
 *
 * ```ts
 * const fake = await startMadaFake({ replies: [8, 8, 0] });            // fail twice, then accept
 * const fake = await startMadaFake({ replies: (c) => (c.index % 3 === 0 ? 88 : 0) });
 * fake.setReplies([{ raw: '<html>…</html>', contentType: 'text/html' }]);
 * fake.lastCodeTo('+359871234567');                                    // "read the SMS"
 * ```
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { XMLParser } from 'fast-xml-parser';

export const MADA_NS = {
  soapenv: 'http://schemas.xmlsoap.org/soap/envelope/',
  encoding: 'http://schemas.xmlsoap.org/soap/encoding/',
  sos: 'http://www.openmindnetworks.com/SoS',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xsd: 'http://www.w3.org/2001/XMLSchema',
} as const;

/** One answer of the fake. A number is shorthand for `{ commandStatus }`. */
export type MadaFakeReply =
  | number
  | {
      readonly commandStatus?: number | string;
      readonly statusDescription?: string;
      readonly messageId?: string;
      /** HTTP status of the envelope; 200 unless set. */
      readonly httpStatus?: number;
      readonly delayMs?: number;
    }
  /** Any body, e.g. HTML, broken XML, a SOAP Fault or an empty string. */
  | { readonly raw: string; readonly contentType?: string; readonly httpStatus?: number; readonly delayMs?: number }
  /** Never answer (until the client gives up or the fake is closed). */
  | { readonly hang: true }
  /** Drop the connection without an answer. */
  | { readonly destroy: true };

export interface MadaFakeAddress {
  readonly ton: string | undefined;
  readonly npi: string | undefined;
  readonly addr: string | undefined;
}

/** One request the fake received, with what it made of it. */
export interface MadaFakeRequest {
  /** 0-based number of the request. */
  readonly index: number;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawBody: string;
  /** Were the Basic credentials the configured ones? */
  readonly authorized: boolean;
  readonly source: MadaFakeAddress | undefined;
  readonly destination: MadaFakeAddress | undefined;
  /** `shortMessage/stringData`, unescaped: the SMS text as the phone would show it. */
  readonly text: string | undefined;
  readonly registeredDelivery: string | undefined;
  /** Everything the fake found wrong with the request; empty for a well-formed SubmitSM. */
  readonly problems: readonly string[];
  /** The commandStatus the fake answered, if it answered with an envelope. */
  commandStatus?: string;
  /** The messageId the fake answered. */
  messageId?: string;
  /** True when the fake answered commandStatus 0: the message counts as delivered. */
  accepted: boolean;
}

export interface MadaFakeOptions {
  /** @default 'mada-user' */
  readonly username?: string;
  /** @default 'mada-secret' */
  readonly password?: string;
  /** Request path the gateway listens on. @default '/SoS/SubmitSM' */
  readonly path?: string;
  /** Sender name for `providerOptions`. @default 'MyBrand' */
  readonly sourceName?: string;
  /** A queue (one entry per request, then `fallback`) or a function of the call. @default [] */
  readonly replies?: readonly MadaFakeReply[] | ((request: MadaFakeRequest) => MadaFakeReply);
  /** The answer once the queue is empty. @default 0 (accepted) */
  readonly fallback?: MadaFakeReply;
  /** Delay before every answer, in ms (a reply's own `delayMs` wins). @default 0 */
  readonly delayMs?: number;
}

export interface MadaFake {
  /** `http://127.0.0.1:PORT/path`. */
  readonly url: string;
  /** `127.0.0.1:PORT/path`, the scheme-less form of old hitrix configs. */
  readonly hostPath: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  /** Options for `madaProvider` / `providers.mada` pointing at this fake. */
  readonly providerOptions: { url: string; username: string; password: string; sourceName: string };
  /** Every request so far, in order. */
  readonly requests: MadaFakeRequest[];
  /** Replaces the reply queue or function (and restarts a queue from its first entry). */
  setReplies(replies: readonly MadaFakeReply[] | ((request: MadaFakeRequest) => MadaFakeReply), fallback?: MadaFakeReply): void;
  /** Texts of the accepted messages to a number (`+359…` or `359…`), oldest first. */
  messagesTo(phone: string): string[];
  /** The first match of `pattern` in the last accepted message to a number (default: 4 to 10 digits). */
  lastCodeTo(phone: string, pattern?: RegExp): string | undefined;
  /** Forgets the recorded requests. */
  reset(): void;
  close(): Promise<void>;
}

const requestParser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', parseTagValue: false, parseAttributeValue: false, trimValues: false });

type XmlObject = Record<string, unknown>;

function asObject(value: unknown): XmlObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as XmlObject) : undefined;
}

/** Element children in document order, leaving out attributes and whitespace-only text. */
function elementKeys(node: XmlObject): string[] {
  return Object.keys(node).filter((k) => {
    if (k.startsWith('@_')) return false;
    const value = node[k];
    return !(k === '#text' && typeof value === 'string' && value.trim() === '');
  });
}

function leaf(node: XmlObject | undefined, name: string): string | undefined {
  const value = node?.[name];
  return typeof value === 'string' ? value : undefined;
}

export function xmlEscape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

interface ParsedSubmit {
  source: MadaFakeAddress | undefined;
  destination: MadaFakeAddress | undefined;
  text: string | undefined;
  registeredDelivery: string | undefined;
  problems: string[];
}

/** Parses a SubmitSM request by namespace URI (not by prefix) and lists everything that is off. */
export function parseSubmitSm(xml: string): ParsedSubmit {
  const problems: string[] = [];
  const out: ParsedSubmit = { source: undefined, destination: undefined, text: undefined, registeredDelivery: undefined, problems };
  let doc: XmlObject | undefined;
  try {
    doc = asObject(requestParser.parse(xml));
  } catch (error) {
    problems.push(`body is not XML: ${String(error)}`);
    return out;
  }
  const rootKeys = doc === undefined ? [] : elementKeys(doc).filter((k) => k !== '?xml');
  const rootKey = rootKeys[0];
  if (doc === undefined || rootKeys.length !== 1 || rootKey === undefined || !/^(\w+:)?Envelope$/.test(rootKey)) {
    problems.push(`root must be one soap Envelope, got ${JSON.stringify(rootKeys)}`);
    return out;
  }
  const envelope = asObject(doc[rootKey]) ?? {};
  const prefixOf = (key: string): string => (key.includes(':') ? key.slice(0, key.indexOf(':')) : '');
  const nsOf = (prefix: string, ...scopes: XmlObject[]): unknown => {
    for (const scope of scopes) {
      const v = scope[prefix === '' ? '@_xmlns' : `@_xmlns:${prefix}`];
      if (v !== undefined) return v;
    }
    return undefined;
  };
  const soapPrefix = prefixOf(rootKey);
  if (nsOf(soapPrefix, envelope) !== MADA_NS.soapenv) problems.push('Envelope is not in the SOAP 1.1 envelope namespace');
  for (const [name, uri] of [['xsi', MADA_NS.xsi], ['xsd', MADA_NS.xsd], ['soapenv', MADA_NS.soapenv], ['sos', MADA_NS.sos]] as const) {
    if (envelope[`@_xmlns:${name}`] !== uri) problems.push(`Envelope must declare xmlns:${name}="${uri}"`);
  }
  const bodyKey = soapPrefix === '' ? 'Body' : `${soapPrefix}:Body`;
  const envelopeKeys = elementKeys(envelope);
  if (JSON.stringify(envelopeKeys) !== JSON.stringify([bodyKey])) problems.push(`Envelope must hold only ${bodyKey}, got ${JSON.stringify(envelopeKeys)}`);
  const body = asObject(envelope[bodyKey]) ?? {};
  const submitKey = elementKeys(body).find((k) => /^(\w+:)?SubmitSM$/.test(k));
  if (submitKey === undefined) {
    problems.push('Body must hold a SubmitSM element');
    return out;
  }
  const submit = asObject(body[submitKey]) ?? {};
  if (nsOf(prefixOf(submitKey), submit, envelope) !== MADA_NS.sos) problems.push('SubmitSM is not in the SoS namespace');
  if (submit[`@_${soapPrefix}:encodingStyle`] !== MADA_NS.encoding) problems.push('SubmitSM must carry soapenv:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"');
  if (JSON.stringify(elementKeys(submit)) !== JSON.stringify(['smRequest'])) problems.push(`SubmitSM must hold one unprefixed smRequest, got ${JSON.stringify(elementKeys(submit))}`);
  if (submit['@_xmlns'] !== undefined) problems.push('smRequest must be in no namespace (no default xmlns on SubmitSM)');
  const sm = asObject(submit.smRequest);
  if (sm === undefined) {
    problems.push('smRequest must be an element with children');
    return out;
  }
  const order = ['source', 'destination', 'shortMessage', 'registeredDelivery'];
  if (JSON.stringify(elementKeys(sm)) !== JSON.stringify(order)) problems.push(`smRequest children must be ${order.join(', ')} in order, got ${elementKeys(sm).join(', ')}`);
  const address = (name: string): MadaFakeAddress | undefined => {
    const node = asObject(sm[name]);
    if (node === undefined) return undefined;
    if (JSON.stringify(elementKeys(node)) !== '["ton","npi","addr"]') problems.push(`${name} children must be ton, npi, addr in order`);
    return { ton: leaf(node, 'ton'), npi: leaf(node, 'npi'), addr: leaf(node, 'addr') };
  };
  out.source = address('source');
  out.destination = address('destination');
  out.text = leaf(asObject(sm.shortMessage), 'stringData');
  out.registeredDelivery = leaf(sm, 'registeredDelivery');
  const { source, destination } = out;
  if (source?.ton !== '5') problems.push(`source ton must be 5 (alphanumeric), got ${String(source?.ton)}`);
  if (source?.npi !== '1') problems.push(`source npi must be 1, got ${String(source?.npi)}`);
  if (source?.addr === undefined || source.addr === '' || source.addr.length > 11) problems.push('source addr must be a sender name of 1 to 11 characters');
  if (destination?.ton !== '1') problems.push(`destination ton must be 1 (international), got ${String(destination?.ton)}`);
  if (destination?.npi !== '1') problems.push(`destination npi must be 1, got ${String(destination?.npi)}`);
  if (destination?.addr === undefined || !/^[1-9]\d{5,14}$/.test(destination.addr)) problems.push(`destination addr must be E.164 digits without "+", got ${JSON.stringify(destination?.addr)}`);
  if (out.text === undefined || out.text === '') problems.push('shortMessage/stringData must hold the text');
  if (out.registeredDelivery !== '1') problems.push(`registeredDelivery must be 1, got ${JSON.stringify(out.registeredDelivery)}`);
  return out;
}

/** The SubmitSMResponse envelope as other integrations quote it (default namespaces, empty Header). */
export function submitSmResponseXml(commandStatus: number | string, statusDescription: string, messageId: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<Envelope xmlns="${MADA_NS.soapenv}">`,
    '   <Header />',
    '   <Body>',
    `      <SubmitSMResponse xmlns="${MADA_NS.sos}" xmlns:soapenv="${MADA_NS.soapenv}" soapenv:encodingStyle="${MADA_NS.encoding}">`,
    '         <smResponse>',
    `            <commandStatus>${xmlEscape(String(commandStatus))}</commandStatus>`,
    `            <statusDescription>${xmlEscape(statusDescription)}</statusDescription>`,
    `            <messageId>${xmlEscape(messageId)}</messageId>`,
    `            <transactionID>TX-${xmlEscape(messageId)}</transactionID>`,
    '            <tpTrxID>3037981</tpTrxID>',
    '            <tlvData />',
    '         </smResponse>',
    '      </SubmitSMResponse>',
    '   </Body>',
    '</Envelope>',
    '',
  ].join('\n');
}

/** A SOAP 1.1 Fault envelope (faultcode `soapenv:Client` or `soapenv:Server`). */
export function soapFaultXml(faultcode: string, faultstring: string): string {
  return (
    `<soapenv:Envelope xmlns:soapenv="${MADA_NS.soapenv}"><soapenv:Body><soapenv:Fault>` +
    `<faultcode>${xmlEscape(faultcode)}</faultcode><faultstring>${xmlEscape(faultstring)}</faultstring>` +
    `</soapenv:Fault></soapenv:Body></soapenv:Envelope>`
  );
}

function digitsOf(phone: string): string {
  return phone.startsWith('+') ? phone.slice(1) : phone;
}

export async function startMadaFake(options: MadaFakeOptions = {}): Promise<MadaFake> {
  const username = options.username ?? 'mada-user';
  const password = options.password ?? 'mada-secret';
  const path = options.path ?? '/SoS/SubmitSM';
  const expectedAuth = `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
  let replies = options.replies ?? [];
  let fallback: MadaFakeReply = options.fallback ?? 0;
  let queuePosition = 0;
  let counter = 0;
  const requests: MadaFakeRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const nextReply = (request: MadaFakeRequest): MadaFakeReply => {
    if (typeof replies === 'function') return replies(request);
    const reply = replies[queuePosition];
    queuePosition += 1;
    return reply ?? fallback;
  };

  const answer = (res: ServerResponse, request: MadaFakeRequest, reply: MadaFakeReply): void => {
    if (typeof reply === 'object' && 'hang' in reply) return;
    if (typeof reply === 'object' && 'destroy' in reply) {
      res.socket?.destroy();
      return;
    }
    const write = (status: number, contentType: string, body: string): void => {
      const delay = (typeof reply === 'object' ? reply.delayMs : undefined) ?? options.delayMs ?? 0;
      const send = (): void => {
        if (res.destroyed || res.writableEnded) return;
        res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (delay <= 0) {
        send();
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        send();
      }, delay);
      timers.add(timer);
    };
    if (typeof reply === 'object' && 'raw' in reply) {
      write(reply.httpStatus ?? 200, reply.contentType ?? 'text/xml; charset=utf-8', reply.raw);
      return;
    }
    const spec = typeof reply === 'number' ? { commandStatus: reply } : reply;
    const commandStatus = String(spec.commandStatus ?? 0);
    counter += 1;
    const messageId = spec.messageId ?? `0294${String(counter).padStart(4, '0')}`;
    request.commandStatus = commandStatus;
    request.messageId = messageId;
    request.accepted = commandStatus === '0';
    write(spec.httpStatus ?? 200, 'text/xml; charset=utf-8', submitSmResponseXml(commandStatus, spec.statusDescription ?? (commandStatus === '0' ? 'success' : `failed (${commandStatus})`), messageId));
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const reqPath = (req.url ?? '').split('?')[0] ?? '';
      const authorized = req.headers.authorization === expectedAuth;
      const parsed = parseSubmitSm(rawBody);
      const request: MadaFakeRequest = {
        index: requests.length,
        method: req.method ?? '',
        path: reqPath,
        headers: req.headers,
        rawBody,
        authorized,
        source: parsed.source,
        destination: parsed.destination,
        text: parsed.text,
        registeredDelivery: parsed.registeredDelivery,
        problems: parsed.problems,
        accepted: false,
      };
      requests.push(request);
      const plain = (status: number, body: string): void => {
        res.writeHead(status, { 'Content-Type': 'text/plain' });
        res.end(body);
      };
      // Transport checks first, in the order a real front end would apply them.
      if (req.method !== 'POST') return plain(405, 'method not allowed');
      if (reqPath !== path) return plain(404, 'not found');
      if (!authorized) {
        res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Basic realm="SoS"' });
        res.end('unauthorized');
        return;
      }
      if (!/^text\/xml(\s*;|$)/i.test(req.headers['content-type'] ?? '')) return plain(415, 'expected text/xml');
      if (parsed.problems.length > 0) {
        res.writeHead(500, { 'Content-Type': 'text/xml; charset=utf-8' });
        res.end(soapFaultXml('soapenv:Client', `fake Mada: ${parsed.problems.join('; ')}`));
        return;
      }
      answer(res, request, nextReply(request));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const hostPath = `127.0.0.1:${port}${path}`;
  const url = `http://${hostPath}`;

  const accepted = (phone: string): MadaFakeRequest[] => requests.filter((r) => r.accepted && r.destination?.addr === digitsOf(phone));
  return {
    url,
    hostPath,
    port,
    username,
    password,
    providerOptions: { url, username, password, sourceName: options.sourceName ?? 'MyBrand' },
    requests,
    setReplies(next, nextFallback) {
      replies = next;
      queuePosition = 0;
      if (nextFallback !== undefined) fallback = nextFallback;
    },
    messagesTo(phone) {
      return accepted(phone).map((r) => r.text ?? '');
    },
    lastCodeTo(phone, pattern = /\b(\d{4,10})\b/) {
      const last = accepted(phone).at(-1)?.text;
      const match = last === undefined ? null : pattern.exec(last);
      return match === null ? undefined : (match[1] ?? match[0]);
    },
    reset() {
      requests.length = 0;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
