/** Security #26: the pumping breaker holds a number range whose codes are rarely verified. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { attackAppStarter, onAttackDatabases, postSend, postVerify } from './helpers/attack-app.js';

const limits = {
  sendsPerPrefix: false as const,
  sendsPerIp: false as const,
  dailySendBudget: false as const,
  conversionBreaker: { minSends: 20, minRatio: 0.2, checkEvery: 5, holdSeconds: 600 },
};

/** `+49151<range><6 digits>`: the breaker's range is the number without its last 6 digits. */
const numberIn = (range: string, i: number) => `+49151${range}${String(100_000 + i)}`;

onAttackDatabases('attack: conversion-rate breaker (SMS pumping)', (db) => {
  const start = attackAppStarter(db);

  it('#26 a range with sends nobody verifies is held after the check (429 + Retry-After, one event, no provider call); other ranges go on', async () => {
    const app = await start({ limits });
    // The 25th send is the first judgement with at least 20 earlier sends stored: 0 of 24 verified.
    for (let i = 0; i < 25; i += 1) await postSend(app, numberIn('77', i)).expect(202);
    const held = await postSend(app, numberIn('77', 99));
    assert.equal(held.status, 429);
    assert.equal(held.body.error.code, 'RATE_LIMITED');
    const retryAfter = Number(held.headers['retry-after']);
    assert.ok(retryAfter > 590 && retryAfter <= 600, `Retry-After ${retryAfter}`);
    assert.equal(app.sendsTo(numberIn('77', 99)), 0, 'no provider call for a held range');
    const events = app.eventsNamed('range-held');
    assert.equal(events.length, 1);
    assert.deepEqual({ ...events[0], range: undefined }, { range: undefined, sent: 24, verified: 0, holdSeconds: 600, level: 1 });
    assert.ok(!JSON.stringify(events).includes(numberIn('77', 0)), 'the event names the range, never a full number');
    assert.deepEqual(
      app.eventsNamed('limit-hit').map((e) => e.limit),
      ['conversionBreaker'],
    );
    await postSend(app, numberIn('78', 1)).expect(202);
  });

  it('#26 a range whose codes are verified is never held', async () => {
    const app = await start({ limits });
    for (let i = 0; i < 30; i += 1) {
      const phone = numberIn('79', i);
      await postSend(app, phone).expect(202);
      if (i % 3 === 0) await postVerify(app, phone, app.codeFor(phone)).expect(200);
    }
    await postSend(app, numberIn('79', 99)).expect(202);
    assert.equal(app.eventsNamed('range-held').length, 0);
  });
});
