/**
 * Signed webhooks for the job service: the Standard Webhooks signature, the outbox table
 * (one event per job and type, retried, then dead-lettered) and the dispatcher that sends it.
 */
export {
  InvalidWebhookSecret,
  isWebhookSecret,
  newWebhookSecret,
  signWebhook,
  verifyWebhook,
  type VerifyWebhookOptions,
  type WebhookHeaders
} from "./webhook-signature.js"
export {
  enqueueWebhookEvent,
  ensureWebhookTables,
  listDeadLetters,
  listWebhookEvents,
  replayDeadLetter,
  WebhookEventNotFound,
  WebhookEventRow,
  WebhookEventStatus,
  type WebhookEventInput
} from "./webhook-outbox.js"
export {
  defaultWebhookRetryPolicy,
  printableWebhookUrl,
  runWebhookDispatcher,
  WebhookDeliveryError,
  webhookRetryDelay,
  type WebhookDispatcherOptions,
  type WebhookEndpoint,
  type WebhookRetryPolicy
} from "./webhook-dispatcher.js"
