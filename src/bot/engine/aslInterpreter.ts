/**
 * The ASL interpreter the embedded engine runs the playbooks with: aws-local-stepfunctions (npm,
 * MIT). It needs Node 22 or later (Promise.withResolvers), as sentinel does.
 */

export { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
