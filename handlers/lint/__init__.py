"""``lint``: grant tags in infrastructure code (ARM JSON, Bicep, Terraform plans), checked
offline against the policy before deployment.

Not part of the service: ``function_app.py`` and the event path never import it
(pycep-parser is a development dependency). :mod:`~handlers.lint.cli` is the
command; the readers (:mod:`~handlers.lint.arm`, :mod:`~handlers.lint.bicep`,
:mod:`~handlers.lint.terraform`) turn files into workloads with tags
(:mod:`~handlers.lint.model`), :mod:`~handlers.lint.check` applies the service's
own grant rules to them.
"""
