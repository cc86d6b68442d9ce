/** express-otp-kit: one-time passcodes for Express. Everything public is exported here. */
export { createOtp, type Otp } from './service/otp.js';
export type { TokenCheckOptions } from './service/token-check.js';
export type { ResendOptions } from './service/resend.js';
export type { ForgetResult, PurgeOptions, PurgeResult } from './service/lifecycle.js';
export type { RetentionOptions } from './core/retention.js';
export type { WorkflowOptions, WorkflowStep, WorkflowInput, WorkflowPlan, PlanStep, StepRecord } from './core/workflow.js';
export type { InsightsQuery } from './service/insights.js';
export type { CancelResult } from './service/request-ends.js';
export { INSIGHT_DIMENSIONS, REFUSAL_REASONS, LATENCY_BOUNDS, type InsightsResult, type InsightsGroup, type InsightDimension, type RefusalReason, type RefusalCounts } from './core/insights.js';
export type { PriceOptions, PriceRate } from './core/insights-options.js';
export type { RequestEndedEvent } from './core/end-event.js';
export type { EndOutcome, CancelReason, SendAttempt } from './core/request-end.js';
export type { EndWebhookBody } from './webhooks/end-events.js';
export { DEFAULT_PURPOSE } from './core/patterns.js';
export { otpRouter, type OtpRouter, type OtpRouterOptions } from './http/router.js';
export { requireVerifiedOtp, type RequireVerifiedOtpOptions } from './http/require-verified-otp.js';
export { otpErrorHandler, type OtpErrorHandlerOptions } from './http/error-handler.js';
export { otpOpenApiDocument, type OtpOpenApiOptions, type OpenApiDocument } from './http/openapi.js';
export { OtpError, OTP_ERROR_CODES, isOtpError, type OtpErrorCode, type Refusal } from './errors.js';
export { OtpEvents, type OtpEventMap, type OtpEventName } from './events.js';
export type { OtpOptions, SmsRetryOptions, OtpConfig } from './options.js';
export { consoleLogger, silentLogger } from './logger.js';
export { consoleProvider, type ConsoleProviderOptions } from './providers/console.js';
export { twilioProvider, type TwilioOptions } from './providers/twilio.js';
export { sinchProvider, type SinchOptions } from './providers/sinch.js';
export { madaProvider, type MadaOptions } from './providers/mada.js';
export { ProviderError, type ProviderFailureKind } from './providers/provider-error.js';
export { BUILTIN_PROVIDER_NAMES, type ProviderSettings } from './providers/index.js';
export type { ProviderContext } from './providers/context.js';
export { parseRouting, chainFor, type Routing, type RoutingRule } from './core/routing.js';
export { maskPhone } from './core/phone.js';
export { knexFromUrl } from './storage/db.js';
export { otpMigrationSource, migrateOtpTables, DEFAULT_TABLES, OTP_MIGRATIONS_TABLE, type OtpTableNames } from './storage/migrations.js';
export type { RetryPoller, RetryPollerOptions } from './worker/retry-poller.js';
export type { WebhookPoller, WebhookPollerOptions } from './worker/webhook-poller.js';
export { verifyWebhook, type VerifyWebhookOptions, type WebhookHeaders, type HeaderSource } from './webhooks/sign.js';
export type { WebhookBody, WebhookEventData } from './webhooks/payload.js';
export { WEBHOOK_EVENT_TYPES, type WebhookOptions, type WebhookEventType } from './core/webhook-options.js';
export { otpCallbackRouter, type OtpCallbackRouterOptions } from './http/callback-router.js';
export {
  LIMIT_DEFAULTS,
  DEFAULT_BLOCKED_TYPES,
  type LimitOptions,
  type DestinationOptions,
  type CountryListOptions,
  type ChallengeHook,
  type ChallengeInput,
} from './limits/index.js';
export { TEST_NUMBERS_SETTING_KEY, MAX_TEST_NUMBERS, type TestNumberInput, type TestNumbersOptions } from './core/test-numbers.js';
export { SAFE_LIST_SETTING_KEY, MAX_SAFE_LIST_ENTRIES, type SafeListInput, type SafeNumberEntry, type SafePrefixEntry } from './core/safe-list.js';
export { MONITOR_NAMES, DEFAULT_MAX_HOLD_SECONDS, type MonitorName, type GuardedLimitOptions, type GuardedDestinationOptions } from './limits/fraud-options.js';
export type { HoldView, ReleaseResult } from './service/fraud-guard.js';
export { ROUTING_SETTING_KEY } from './service/routing-source.js';
export type * from './types.js';
export { otpMetrics, type MetricsRegistry, type OtpMetrics, type OtpMetricsOptions, type OtpMetricsSource } from './observability/metrics.js';
export { otpStatusRouter, type OtpStatusRouterOptions, type OtpStatusRequestView } from './http/status-router.js';
export type { ProviderHealth, ProviderHealthStatus } from './observability/provider-health.js';
export { safeErrorSummary, type SafeErrorSummary } from './core/safe-error.js';
export { otpInsightsRouter, type OtpInsightsRouterOptions, type OtpInsightsSource } from './http/insights-router.js';
export { INSIGHTS_DIMENSIONS, type InsightsDimension, type InsightsReport, type Hold } from './core/insights-report.js';
