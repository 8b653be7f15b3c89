export { gatewayConfigSpec } from './config.js';
export { gatewayHttpPort, startGatewayService, type GatewayConfig } from './gateway-service.js';
