/** One collected artifact, as listed in an incident's evidence manifest. */
export interface EvidenceItem {
  /** What it is: `file`, `volatile:processes`, `memory`, `snapshot`, `cloudtrail`… */
  kind: string;
  /** Where it is: `s3://bucket/key`, `ebs-snapshot:snap-…`, `file://…` in embedded mode. */
  location: string;
  sha256?: string;
  size?: number;
  collector: string;
  collectedAt: string;
  /** Where it came from and how (namespace/pod/path, instance, command). */
  source: Record<string, string>;
}
