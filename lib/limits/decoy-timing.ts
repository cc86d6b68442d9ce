/**
 * How long a decoy answer waits: one of the durations of recent real sends, so a refused
 * destination answers in the same time class as a real one.
 */
import { randomInt } from 'node:crypto';

const MAX_DECOY_DELAY_MS = 5_000;

export interface LatencySampler {
  record(ms: number): void;
  pick(): number;
}

export function latencySampler(size = 32): LatencySampler {
  const samples: number[] = [];
  let next = 0;
  return {
    record(ms) {
      const value = Math.min(MAX_DECOY_DELAY_MS, Math.max(0, ms));
      if (samples.length < size) samples.push(value);
      else samples[next] = value;
      next = (next + 1) % size;
    },
    pick() {
      return samples.length === 0 ? 0 : (samples[randomInt(samples.length)] ?? 0);
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
