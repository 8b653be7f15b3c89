export {
  CATALOGUE,
  catalogueMarkdown,
  CONSUMERS,
  KV_BUCKETS,
  STREAMS,
  SUBJECTS,
  usageSubject,
} from './catalogue.js';
export type { CatalogueDoc, ConsumerSpec, KvBucketName, KvBucketSpec, StreamSpec, SubjectSpec } from './catalogue.js';
export { connectBus } from './connect.js';
export type { Bus, ConnectBusOptions } from './connect.js';
export { consumeDurable } from './consume.js';
export type { ConsumeDurableOptions, DeliveryContext, DurableHandler } from './consume.js';
export { silentLogger } from './logger.js';
export type { BusLogger } from './logger.js';
export { consumerConfig, provision, streamConfig } from './provision.js';
export type { ProvisionAction, ProvisionOptions, ProvisionReport } from './provision.js';
export { messagingAttributes, publishCore, publishEvent, subscribeCore } from './publish.js';
export type { CoreHandler, PublishEventOptions, PublishEventResult, SubscribeCoreOptions } from './publish.js';
export {
  extractTrace,
  headersWithTrace,
  natsHeaderGetter,
  natsHeaderSetter,
  TRACER_NAME,
  withConsumerSpan,
} from './trace-headers.js';
