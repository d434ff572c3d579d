/** A dispatch is (binding_key, event_id); a replay is a further dispatch of the same pair. */
export function dispatchIdOf(bindingKey: string, eventId: string, replayTag: string | null = null): string {
  return replayTag === null ? `${bindingKey}|${eventId}` : `${bindingKey}|${eventId}|${replayTag}`;
}

/** Whether a binding's stages evaluate CEL over the event (flow-control keys), so admit must carry it. */
export function stagesNeedEvent(spec: { flow_control?: unknown; when?: unknown }): boolean {
  return spec.flow_control != null || spec.when != null;
}
