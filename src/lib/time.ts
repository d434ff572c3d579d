/** A clock is injected everywhere so pure modules and tests control time. */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();
export const iso = (ms: number) => new Date(ms).toISOString();
