export { decodeUsageEvent, UsageMeter, type UsageRecord } from './usage-meter.js';
