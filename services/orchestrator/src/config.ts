import { commonConfig, env } from '@aigc/runtime';

/** Environment of the orchestrator. */
export const orchestratorConfigSpec = {
  ...commonConfig({ grpcPort: 50052, metricsPort: 9462 }),
  textAddr: env.address('TEXT_ADDR', 'text model server', '127.0.0.1:50053'),
  imageAddr: env.address('IMAGE_ADDR', 'image model server', '127.0.0.1:50054'),
  audioAddr: env.address('AUDIO_ADDR', 'audio model server', '127.0.0.1:50055'),
  moderationAddr: env.address('MODERATION_ADDR', 'moderation service', '127.0.0.1:50056'),
};
