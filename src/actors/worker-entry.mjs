// Plain-JS entry of every actor thread: register tsx's loader in this thread, then load the actor's TypeScript module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
