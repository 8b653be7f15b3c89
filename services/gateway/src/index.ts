export { gatewayConfigSpec } from './config.js';
export { startGatewayService, type GatewayConfig } from './gateway-service.js';
