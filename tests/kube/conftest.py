from tests.kube.helpers import kube_env

__all__ = ["kube_env"]
