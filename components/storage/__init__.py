"""Storage: the EBS and EFS CSI drivers and EBS backups (platform:storage:*)."""
