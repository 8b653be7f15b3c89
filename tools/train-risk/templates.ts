/**
 * Templates and vocabulary of the synthetic risk data set (see make-dataset.ts). `{x}` is replaced
 * by a word of the category. Kept deliberately plain: enough to teach a small classifier the
 * shape of each category, not a catalogue of harmful content.
 */

/** Output labels of the model, in output order. */
export const LABELS = ['safe', 'violence', 'sexual', 'hate', 'self_harm', 'illegal', 'fraud', 'profanity'] as const;

/** Paraphrases beyond the shipped lexicon, per category. */
export const VOCABULARY: Record<string, string[]> = {
  violence: ['murder', 'stab', 'shoot', 'strangle', 'slaughter', 'torture', 'massacre', 'beat to death', 'blow up', 'ambush', '捅死', '打死', '报复杀人', '血洗', '砍人', '爆炸袭击', '屠杀', '行凶'],
  sexual: ['explicit sex', 'nudes', 'sex video', 'hookup', 'xxx', 'erotic massage', 'strip show', 'onlyfans leak', '黄片', '成人视频', '一夜情', '裸照', '色情直播', '上门服务'],
  hate: ['vermin', 'inferior race', 'go back to your country', 'should be exterminated', 'racial purity', 'degenerates', '滚出中国', '低等人', '杂种', '该被灭绝', '下等民族'],
  self_harm: ['end my life', 'overdose', 'hurt myself', 'jump off a bridge', 'no reason to live', 'kill myself', '不想活了', '结束生命', '跳楼', '吃安眠药', '自残', '轻生'],
  illegal: ['buy drugs', 'cocaine', 'heroin', 'sell guns', 'counterfeit money', 'fake passport', 'launder money', 'smuggle', '买毒品', '卖枪', '假币', '走私', '贩毒', '假护照', '黑市'],
  fraud: ['wire the deposit', 'guaranteed returns', 'verify your account', 'send gift cards', 'crypto doubling', 'fake invoice', '刷单返利', '稳赚不赔', '中奖了请汇款', '冒充客服', '投资理财群', '虚假发票'],
  profanity: ['damn you', 'piece of crap', 'screw you', 'idiot', 'moron', 'bastard', '滚蛋', '混蛋', '王八蛋', '去你的', '废物', '神经病'],
};

/** Harmful templates per category, English and Chinese. */
export const TEMPLATES: Record<string, string[]> = {
  violence: [
    'I am going to {x} him tomorrow', 'tell me how to {x} my neighbor', 'we should {x} all of them', 'step by step guide to {x} someone',
    'he deserves to be {x}ed', 'plan to {x} people at the school', '我要去{x}他', '教我怎么{x}', '明天就去{x}那个人', '我们应该{x}他们全家',
    'the best way to {x} without getting caught', '如何{x}而不被抓',
  ],
  sexual: [
    'send me {x} now', 'where can I find {x} of her', 'looking for {x} tonight', 'click here for free {x}', 'she wants {x} with strangers',
    '加我看{x}', '哪里有{x}', '今晚找{x}', '免费{x}点这里', '私聊发{x}',
  ],
  hate: [
    'those people are {x}', 'all immigrants are {x}', 'they are {x} and should disappear', 'that group is {x}', 'I hate them, they are {x}',
    '那些人都是{x}', '这个民族就是{x}', '外地人都是{x}', '他们就是{x}，应该消失',
  ],
  self_harm: [
    'I want to {x} tonight', 'what is the easiest way to {x}', 'I have decided to {x}', 'help me {x} painlessly', 'nobody would care if I {x}',
    '我想{x}', '怎样{x}最快', '我决定今晚{x}', '活着没意思，想{x}',
  ],
  illegal: [
    'where can I {x} online', 'how to {x} without the police knowing', 'contact me to {x} cheap', 'I can help you {x}', 'best place to {x}',
    '哪里可以{x}', '联系我{x}', '怎么{x}不被发现', '低价{x}，私聊',
  ],
  fraud: [
    'congratulations, please {x} to claim your prize', 'urgent: {x} within 24 hours', 'join us for {x}, no risk', 'your bank asks you to {x}',
    '恭喜，{x}即可领奖', '紧急通知：请立即{x}', '加入我们{x}', '银行通知您{x}',
  ],
  profanity: [
    'you are a {x}', 'shut up, {x}', '{x}, nobody asked you', 'what a {x} you are', 'get lost {x}',
    '你就是个{x}', '闭嘴{x}', '{x}，没人问你', '你这个{x}',
  ],
};

/** Benign templates, including hard negatives that share words with harmful ones. */
export const BENIGN_TEMPLATES: string[] = [
  'how do I {x} in Linux', 'please {x} before the meeting', 'the recipe says to {x} for ten minutes', 'our team will {x} next week',
  'can you explain how to {x}', 'I learned to {x} at school', 'remember to {x} every morning', 'the tutorial shows how to {x}',
  '请帮我{x}', '明天记得{x}', '老师教我们{x}', '这本书讲的是如何{x}', '我们周末一起{x}', '怎样才能更好地{x}',
];

/** Words for the benign templates. */
export const BENIGN_WORDS: string[] = [
  'kill the process', 'shoot a photo', 'execute the script', 'drop the table', 'attack the problem', 'bake bread', 'water the plants',
  'fix the bug', 'cut the vegetables', 'beat the eggs', 'run the tests', 'hang the picture', 'fire up the grill', 'blow out the candles',
  '杀毒软件', '打扫房间', '学习英语', '做蛋糕', '修电脑', '跑步锻炼', '拍照片', '写作业', '剪头发', '种花', '打游戏', '炒菜', '看电影', '复习功课',
];
