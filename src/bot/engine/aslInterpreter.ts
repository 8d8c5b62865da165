/**
 * The ASL interpreter the embedded engine runs the playbooks with: aws-local-stepfunctions (npm,
 * MIT). The Promise.withResolvers polyfill is imported first, so it is in place before the
 * interpreter's module is evaluated, on Node 20 as on Node 22 and later.
 */
import './installPromiseWithResolvers.js';

export { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
