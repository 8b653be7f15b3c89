import type { ChatMessage } from '@aigc/proto';
import { invalidArgument } from '@aigc/runtime';

const ROLES = new Set(['system', 'user', 'assistant']);

/**
 * Renders a conversation as one prompt for a plain causal model: one `role: content` line per
 * turn, ending with `assistant:` for the model to continue. Models with a chat template of
 * their own get it applied by the [text] issue's tokenizer integration.
 */
export function renderChatPrompt(messages: ChatMessage[]): string {
  if (messages.length === 0) throw invalidArgument('messages must not be empty');
  messages.forEach((m, i) => {
    if (!ROLES.has(m.role)) throw invalidArgument(`messages[${i}].role must be system, user or assistant, got ${JSON.stringify(m.role)}`);
  });
  return messages.map((m) => `${m.role}: ${m.content}\n`).join('') + 'assistant:';
}
