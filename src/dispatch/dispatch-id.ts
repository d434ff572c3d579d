/** A dispatch is (binding_key, event_id); a replay is a further dispatch of the same pair. */
export function dispatchIdOf(bindingKey: string, eventId: string, replaySeq: number | null = null): string {
  return replaySeq === null ? `${bindingKey}|${eventId}` : `${bindingKey}|${eventId}|r${replaySeq}`;
}
