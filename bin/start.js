#!/usr/bin/env node
// `npm start`: the server from its build (bin/build.js), rebuilt first if a source changed since.
import { ensureBuilt } from './build.js';

ensureBuilt();
await import('../dist/main.js');
