/** Time source. Engines take a Clock so tests can drive time (see testkit's FakeClock). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export function isoNow(clock: Clock = systemClock): string {
  return new Date(clock.now()).toISOString();
}
