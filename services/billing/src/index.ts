export { billingConfigSpec } from './config.js';
export { startBillingService, type BillingConfig } from './billing-service.js';
export { hashSecret } from './accounts.js';
