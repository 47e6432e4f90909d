#!/usr/bin/env python3
"""Extracts supplement.json from Microsoft Graph's v1.0 CSDL (msgraph-metadata clean_v10_metadata/cleanMetadata.xml).

Usage: extract.py <cleanMetadata.xml> <commit> > supplement.json

It writes, for the microsoft.graph namespace: the entity types the simulated tenant serves that properties.json
lacks (administrativeUnit), and every complex and enum type reachable from the directory entity types, so the
conformance test can check nested objects and enum values as well as top-level properties.
"""
import json
import re
import sys

ENTITIES = ["user", "group", "application", "servicePrincipal", "device", "directoryRole",
            "unifiedRoleDefinition", "unifiedRoleAssignment", "administrativeUnit"]
EXTRA_ENTITIES = ["administrativeUnit"]


def main():
    path, commit = sys.argv[1], sys.argv[2]
    s = open(path, encoding="utf-8").read()
    i = s.index('<Schema Namespace="microsoft.graph"')
    s = s[i:s.index("</Schema>", i)]
    types, enums = {}, {}
    for m in re.finditer(r'<(EntityType|ComplexType) Name="([^"]+)"([^>]*?)(/>|>(.*?)</\1>)', s, re.S):
        kind, name, attrs, _, body = m.groups()
        base = re.search(r'BaseType="graph\.([^"]+)"', attrs)
        props = [(p[0], p[1].replace("graph.", "microsoft.graph."))
                 for p in re.findall(r'<Property Name="([^"]+)" Type="([^"]+)"', body or "")]
        types[name] = (kind, base.group(1) if base else None, props)
    for m in re.finditer(r'<EnumType Name="([^"]+)"[^>]*>(.*?)</EnumType>', s, re.S):
        enums[m.group(1)] = re.findall(r'<Member Name="([^"]+)"', m.group(2))

    def all_props(n):
        kind, base, props = types[n]
        return (all_props(base) if base else []) + props

    complex_out, enum_out = {}, {}

    def visit(t):
        t = t.removeprefix("Collection(").removesuffix(")")
        if not t.startswith("microsoft.graph."):
            return
        n = t[len("microsoft.graph."):]
        if n in enums:
            enum_out[n] = enums[n]
            return
        if n in complex_out or n not in types or types[n][0] != "ComplexType":
            return
        complex_out[n] = {}
        for p, pt in all_props(n):
            complex_out[n][p] = pt
            visit(pt)

    for e in ENTITIES:
        for _, pt in all_props(e):
            visit(pt)
    out = {
        "source": "Microsoft Graph CSDL metadata (microsoftgraph/msgraph-metadata commit %s, "
                  "clean_v10_metadata/cleanMetadata.xml, namespace microsoft.graph), extracted by extract.py" % commit,
        "entityTypes": {e: {"properties": dict(all_props(e))} for e in EXTRA_ENTITIES},
        "complexTypes": dict(sorted(complex_out.items())),
        "enumTypes": dict(sorted(enum_out.items())),
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
