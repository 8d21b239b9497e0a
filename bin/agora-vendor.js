#!/usr/bin/env node
// The installed `agora-vendor` command. The package ships TypeScript and runs it with tsx (a
// dependency): nothing to build, in a clone or once installed. (`npm start` runs a build of the
// server instead, for a fast start: bin/start.js.)
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
