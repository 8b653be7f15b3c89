export { decodeKeyChange, KeyChangeWatcher, publishKeyChange } from './key-changes.js';
