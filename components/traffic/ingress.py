"""The annotations of the platform UIs' ALB Ingresses (Grafana, Argo CD with exposure alb), which the AWS
Load Balancer Controller reads. A helper module, not an add-on: the add-ons that make an ALB Ingress
import it instead of the controller's add-on module."""

from __future__ import annotations

from settings.traffic import ExposureSettings

ALB = "alb.ingress.kubernetes.io"


def alb_ingress_annotations(e: ExposureSettings, *, health_path: str) -> dict[str, str]:
    """The annotations of a platform UI's ALB Ingress (exposure alb), read by this controller
    (docs/guide/ingress/annotations.md): scheme, IP targets, the health check path, and with a certificate
    HTTPS on 443 with HTTP redirected."""
    annotations = {f"{ALB}/scheme": e.alb_scheme, f"{ALB}/target-type": "ip", f"{ALB}/healthcheck-path": health_path}
    if e.certificate_arn:
        annotations |= {f"{ALB}/certificate-arn": e.certificate_arn,
                        f"{ALB}/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]', f"{ALB}/ssl-redirect": "443"}
    else:
        annotations[f"{ALB}/listen-ports"] = '[{"HTTP": 80}]'
    return annotations
