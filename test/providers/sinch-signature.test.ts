/**
 * The Sinch fake's signature check (test/helpers/fakes/sinch-signature.ts) against Sinch's own
 * published example (developers.sinch.com/docs/voice/api-reference/authentication/callback-signed-request):
 * the same string-to-sign and HMAC as for API requests, with documented inputs and outputs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { hasValidSinchSignature, isSinchAuthorized, sinchSignature, sinchStringToSign, type SignedRequest } from '../helpers/fakes/sinch-signature.js';

const KEY = '669E367E-6BBA-48AB-AF15-266871C28135';
const SECRET = 'BeIukql3pTKJ8RGL5zo0DA==';
const BODY = '{"event":"ace","callid":"822aa4b7-05b4-4d83-87c7-1f835ee0b6f6_257","timestamp":"2014-09-24T10:59:41Z","version":1}';
const SIGNATURE = 'Tg6fMyo8mj9pYfWQ9ssbx3Tc1BNC87IEygAfLbJqZb4=';

function request(over: Partial<SignedRequest> = {}, authorization = `Application ${KEY}:${SIGNATURE}`): SignedRequest {
  return {
    method: 'POST',
    path: '/sinch/callback/ace',
    headers: { 'content-type': 'application/json', 'x-timestamp': '2014-09-24T10:59:41Z', authorization },
    rawBody: BODY,
    ...over,
  };
}

describe("Sinch's documented request signing, as the fake implements it", () => {
  it('gives the documented Content-MD5, string to sign and signature', () => {
    assert.equal(createHash('md5').update(BODY).digest('base64'), 'REWF+X220L4/Gw1spXOU7g==');
    assert.equal(sinchStringToSign(request()), 'POST\nREWF+X220L4/Gw1spXOU7g==\napplication/json\nx-timestamp:2014-09-24T10:59:41Z\n/sinch/callback/ace');
    assert.equal(sinchSignature(SECRET, request()), SIGNATURE);
    assert.equal(hasValidSinchSignature(KEY, SECRET, request()), true);
  });

  it('refuses another body, path, method, timestamp, key or secret', () => {
    assert.equal(hasValidSinchSignature(KEY, SECRET, request({ rawBody: `${BODY} ` })), false);
    assert.equal(hasValidSinchSignature(KEY, SECRET, request({ path: '/sinch/callback/dice' })), false);
    assert.equal(hasValidSinchSignature(KEY, SECRET, request({ method: 'PUT' })), false);
    assert.equal(hasValidSinchSignature(KEY, SECRET, request({ headers: { ...request().headers, 'x-timestamp': '2014-09-24T10:59:42Z' } })), false);
    assert.equal(hasValidSinchSignature('another-key', SECRET, request()), false);
    assert.equal(hasValidSinchSignature(KEY, Buffer.from('another secret').toString('base64'), request()), false);
    assert.equal(hasValidSinchSignature(KEY, SECRET, request({}, `Basic ${Buffer.from(`${KEY}:${SECRET}`).toString('base64')}`)), false);
  });

  it('also authorizes Basic key:secret, as Sinch does for prototyping, but no other scheme or secret', () => {
    assert.equal(isSinchAuthorized(KEY, SECRET, request({}, `Basic ${Buffer.from(`${KEY}:${SECRET}`).toString('base64')}`)), true);
    assert.equal(isSinchAuthorized(KEY, SECRET, request({}, `Basic ${Buffer.from(`${KEY}:nope`).toString('base64')}`)), false);
    assert.equal(isSinchAuthorized(KEY, SECRET, request({}, `Application ${KEY}`)), false);
    assert.equal(isSinchAuthorized(KEY, SECRET, request()), true);
  });

  it('signs an empty body with an empty Content-MD5', () => {
    assert.equal(sinchStringToSign(request({ method: 'GET', rawBody: '' })).split('\n')[1], '');
  });
});
