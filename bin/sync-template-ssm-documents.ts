// Rewrites the AWS::SSM::Document resources of deploy/cloudformation/sentinel.json from deploy/ssm/*.json
// (`npm run sync:template-ssm`). Nothing else in the template changes.
import { syncTemplateSsmDocuments } from '../src/provision/templateSsmDocuments.js';

const changed = syncTemplateSsmDocuments();
process.stdout.write(changed.length ? `updated ${changed.join(', ')} in deploy/cloudformation/sentinel.json\n` : 'deploy/cloudformation/sentinel.json already matches deploy/ssm\n');
