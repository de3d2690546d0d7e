import { describeEventLogContract } from './eventLogContract.js';
import { MemoryEventLog } from './MemoryEventLog.js';

describeEventLogContract('MemoryEventLog', async () => ({ log: new MemoryEventLog(), cleanup: async () => {} }));
