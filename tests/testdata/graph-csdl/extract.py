#!/usr/bin/env python3
"""Extracts supplement.json from Microsoft Graph's CSDL (microsoftgraph/msgraph-metadata).

Usage: extract.py <commit> <v1 cleanMetadata.xml> <beta-entity-types.json> <beta-complex-types.json>
                  <beta-enum-types.json> <beta sovereign CSDL>... > supplement.json

v1.0 (clean_v10_metadata/cleanMetadata.xml, namespace microsoft.graph): the entity types the simulated tenant
serves that properties.json lacks (EXTRA_ENTITIES), and every complex and enum type reachable from the entity types
it serves (ENTITIES), with the derived types of each polymorphic complex type, so the conformance test can check
nested objects and enum values as well as top-level properties. Open complex types (OpenType="true", such as
provisioning's detailsInfo) may carry properties their type does not declare; they are listed in openTypes.

beta (section "beta"): Graph's production beta CSDL (schemas/beta-Prod.csdl) is too large for the snapshot this
was read from; the repository's type mappings generated from it (schemas/type-mappings/beta-*.json) give every
beta type's property NAMES and every enum's members, and the sovereign beta CSDLs (schemas/beta-USNat.csdl,
beta-USSec.csdl) give property TYPES. A beta property takes its type from the first sovereign CSDL that declares
it, then from v1.0; a property no CSDL types is "?" (the test checks only that it is a known name and not an empty
string). Base types come from the sovereign CSDLs; a type they lack is taken to derive from entity (entity types)
or nothing (complex types).
"""
import json
import re
import sys

NS = "microsoft.graph."

# v1.0 entity types the simulated tenant serves (their complex and enum types are extracted).
ENTITIES = ["user", "group", "application", "servicePrincipal", "device", "directoryRole",
            "unifiedRoleDefinition", "unifiedRoleAssignment", "administrativeUnit",
            "signIn", "directoryAudit", "provisioningObjectSummary",
            "conditionalAccessPolicy", "ipNamedLocation", "countryNamedLocation",
            "riskyUser", "riskDetection", "riskyServicePrincipal", "servicePrincipalRiskDetection",
            "userRegistrationDetails", "managedDevice",
            "deviceConfiguration", "windows10GeneralConfiguration", "windows10EndpointProtectionConfiguration",
            "iosGeneralDeviceConfiguration", "androidWorkProfileGeneralDeviceConfiguration",
            "mobileApp", "microsoftStoreForBusinessApp", "win32LobApp", "iosStoreApp", "androidStoreApp", "webApp"]
# ... of which properties.json lacks these (written whole to entityTypes).
EXTRA_ENTITIES = ["administrativeUnit", "riskyServicePrincipal", "servicePrincipalRiskDetection",
                  "deviceConfiguration", "windows10GeneralConfiguration", "windows10EndpointProtectionConfiguration",
                  "iosGeneralDeviceConfiguration", "androidWorkProfileGeneralDeviceConfiguration",
                  "mobileApp", "microsoftStoreForBusinessApp", "win32LobApp", "iosStoreApp", "androidStoreApp", "webApp"]
# beta entity types the simulated tenant serves (signIn's own properties are properties.json's signIn.beta).
BETA_ENTITIES = ["signIn", "riskyAgent", "riskyAgentUser", "riskyAgentIdentity", "riskyAgentIdentityBlueprintPrincipal",
                 "agentRiskDetection", "agentInstance", "agentCardManifest"]


def parse_csdl(path):
    """Returns {name: (kind, base, [(prop, type)], isOpen)} and {enum: (members, isFlags)} of namespace microsoft.graph."""
    s = open(path, encoding="utf-8").read()
    i = s.index('<Schema Namespace="microsoft.graph"')
    s = s[i:s.index("</Schema>", i)]
    types, enums = {}, {}
    for m in re.finditer(r'<(EntityType|ComplexType) Name="([^"]+)"([^>]*?)(/>|>(.*?)</\1>)', s, re.S):
        kind, name, attrs, _, body = m.groups()
        base = re.search(r'BaseType="graph\.([^"]+)"', attrs)
        props = [(p[0], p[1].replace("graph.", NS))
                 for p in re.findall(r'<Property Name="([^"]+)" Type="([^"]+)"', body or "")]
        types[name] = (kind, base.group(1) if base else None, props, 'OpenType="true"' in attrs)
    for m in re.finditer(r'<EnumType Name="([^"]+)"([^>]*)>(.*?)</EnumType>', s, re.S):
        enums[m.group(1)] = (re.findall(r'<Member Name="([^"]+)"', m.group(3)), 'IsFlags="true"' in m.group(2))
    return types, enums


class Extractor:
    """Walks entity types to the complex and enum types they reach."""

    def __init__(self, types, enums):
        self.types, self.enums = types, enums
        self.complex, self.enum_out, self.flags, self.open = {}, {}, [], []
        self.derived = {}
        for n, (kind, base, _, _) in types.items():
            if base:
                self.derived.setdefault(base, []).append(n)

    def all_props(self, n):
        kind, base, props, _ = self.types[n]
        return (self.all_props(base) if base and base in self.types else []) + props

    def descendants(self, n):
        out = []
        for d in sorted(self.derived.get(n, [])):
            out += [d] + self.descendants(d)
        return out

    def visit(self, t):
        t = t.removeprefix("Collection(").removesuffix(")")
        if not t.startswith(NS):
            return
        n = t[len(NS):]
        if n in self.enums:
            members, flags = self.enums[n]
            self.enum_out[n] = members
            if flags and n not in self.flags:
                self.flags.append(n)
            return
        if n in self.complex or n not in self.types or self.types[n][0] != "ComplexType":
            return
        self.complex[n] = {}
        if self.types[n][3]:
            self.open.append(n)
        for p, pt in self.all_props(n):
            self.complex[n][p] = pt
            self.visit(pt)
        for d in self.descendants(n):
            self.visit(NS + d)

    def derived_out(self):
        return {n: self.descendants(n) for n in sorted(self.complex) if self.descendants(n)}


def beta_schema(entity_map, complex_map, enum_map, csdls, v1types):
    """Builds beta types: names from the production type mappings, types from the sovereign CSDLs, then v1.0."""
    sov = [parse_csdl(p) for p in csdls]

    def typed(name, prop):
        for types, _ in sov:
            if name in types:
                for p, pt in types[name][2]:
                    if p == prop:
                        return pt
        if name in v1types:
            for p, pt in v1types[name][2]:
                if p == prop:
                    return pt
        return "?"

    def base_of(name, kind):
        for types, _ in sov:
            if name in types:
                return types[name][1]
        return "entity" if kind == "EntityType" else None

    types = {}
    for kind, mapping in (("EntityType", entity_map), ("ComplexType", complex_map)):
        for name, spec in mapping.items():
            is_open = any(name in t and t[name][3] for t, _ in sov)
            types[name] = (kind, base_of(name, kind), [(p, typed(name, p)) for p in spec["properties"]], is_open)
    types.setdefault("entity", ("EntityType", None, [("id", "Edm.String")], False))
    enums = {}
    for name, members in enum_map.items():
        flags = any(name in e and e[name][1] for _, e in sov)
        enums[name] = (members, flags)
    return types, enums


def main():
    commit, v1path, bent, bcomplex, benum = sys.argv[1:6]
    csdls = sys.argv[6:]
    types, enums = parse_csdl(v1path)
    v1 = Extractor(types, enums)
    for e in ENTITIES:
        for _, pt in v1.all_props(e):
            v1.visit(pt)

    load = lambda p: json.load(open(p, encoding="utf-8"))["microsoft.graph"]
    btypes, benums = beta_schema(load(bent), load(bcomplex), load(benum), csdls, types)
    beta = Extractor(btypes, benums)
    props = json.load(open(__file__.rsplit("/", 1)[0] + "/properties.json", encoding="utf-8"))
    for _, pt in props["entityTypes"]["signIn.beta"]["properties"].items():
        beta.visit(pt.removesuffix("(?)"))
    for e in BETA_ENTITIES[1:]:
        for _, pt in beta.all_props(e):
            beta.visit(pt)

    out = {
        "source": "Microsoft Graph CSDL metadata (microsoftgraph/msgraph-metadata commit %s): v1.0 from "
                  "clean_v10_metadata/cleanMetadata.xml; beta names from schemas/type-mappings/beta-*.json (generated "
                  "from beta-Prod.csdl), beta types from schemas/beta-USNat.csdl and beta-USSec.csdl, then v1.0 "
                  "(\"?\": no CSDL types it); namespace microsoft.graph; extracted by extract.py" % commit,
        "entityTypes": {e: {"properties": dict(v1.all_props(e))} for e in EXTRA_ENTITIES},
        "complexTypes": dict(sorted(v1.complex.items())),
        "derivedTypes": v1.derived_out(),
        "enumTypes": dict(sorted(v1.enum_out.items())),
        "flagEnums": sorted(v1.flags),
        "openTypes": sorted(v1.open),
        "beta": {
            "entityTypes": {e: {"properties": dict(beta.all_props(e))} for e in BETA_ENTITIES[1:]},
            "complexTypes": dict(sorted(beta.complex.items())),
            "derivedTypes": beta.derived_out(),
            "enumTypes": dict(sorted(beta.enum_out.items())),
            "flagEnums": sorted(beta.flags),
            "openTypes": sorted(beta.open),
        },
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
