#!/usr/bin/env node
// The installed `agora-vendor` command. The package ships TypeScript and runs it with tsx (a
// dependency), as `npm start` does: nothing to build, in a clone or once installed.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
