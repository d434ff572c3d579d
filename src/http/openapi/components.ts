/**
 * Named OpenAPI components that several routes answer with, and the ones named only because other
 * components nest them. Request-side names end in "Request" or "Input".
 */
import { bindingSpecSchema } from "../../contracts/binding-spec";
import { publishEventSchema, triggerEventSchema } from "../../contracts/events";
import { sourceViewSchema } from "../../contracts/sources";
import { workerJobSchema } from "../../contracts/worker-jobs";
import { type Named, named } from "./route";
import * as s from "./schemas";

export const SourceView = named("Source", sourceViewSchema);
export const BindingVersion = named("BindingVersion", s.bindingVersionSchema);
export const Binding = named("Binding", s.bindingSchema);
export const SigningSecret = named("SigningSecret", s.signingSecretSchema);
export const DispatchDetail = named("DispatchDetail", s.dispatchDetailSchema);
export const DlqDetail = named("DlqEntryDetail", s.dlqDetailSchema);
export const WorkerJob = named("WorkerJob", workerJobSchema);
export const Approval = named("Approval", s.approvalSchema);
export const TrustRecord = named("TrustRecord", s.trustRecordSchema);
export const ReplayAnswer = named("ReplayAnswer", s.replayAnswerSchema);
export const IntakeAccepted = named("IntakeAccepted", s.intakeAcceptedSchema);
export const IntakeDuplicate = named("IntakeDuplicate", s.intakeDuplicateSchema);

/** Schemas named only because other components nest them. */
export const nestedComponents: { output: Named[]; input: Named[] } = {
  output: [
    named("Error", s.errorEnvelopeSchema),
    named("Problem", s.problemSchema),
    named("DispatchOutcome", s.dispatchOutcomeSchema),
    named("Attempt", s.attemptSchema),
    named("BindingSpec", bindingSpecSchema),
    named("ReplayTarget", s.replayTargetSchema),
    named("TriggerEvent", triggerEventSchema),
    named("DlqEntry", s.dlqSummarySchema),
    named("Circuit", s.circuitSchema),
    named("FlowGate", s.flowGateSchema),
    named("Record", s.recordSchema),
    IntakeAccepted,
    IntakeDuplicate,
  ],
  input: [named("PublishEventInput", publishEventSchema)],
};
