#!/usr/bin/env node
// The CLI is TypeScript run through tsx; workers get the same loader (src/actors/actor.ts).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
