import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { renderChatPrompt } from './chat-prompt.js';

describe('renderChatPrompt', () => {
  it('renders one line per turn and leaves the assistant turn open', () => {
    expect(
      renderChatPrompt([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ]),
    ).toBe('system: Be brief.\nuser: Hi\nassistant:');
  });

  it('rejects an empty conversation and unknown roles, naming the message', () => {
    expect(() => renderChatPrompt([])).toThrow(expect.objectContaining({ code: status.INVALID_ARGUMENT }));
    expect(() => renderChatPrompt([{ role: 'user', content: 'a' }, { role: 'robot', content: 'b' }])).toThrow(/messages\[1\]\.role/);
  });
});
