//! What the fake APS (`super`) holds: one BIM 360 / ACC account hub with
//! three projects (two ACC, one BIM 360) and a Fusion team hub, their
//! folders, items, versions (with the files in object storage) and ACC
//! issues. Ids are shaped as APS's (`b.<uuid>` hubs and projects,
//! `urn:adsk.wipprod:fs.folder:co.…` folders, `urn:adsk.wipprod:dm.lineage:…`
//! items, `urn:adsk.wipprod:fs.file:vf.…?version=N` versions,
//! `urn:adsk.objects:os.object:wip.dm.prod/<key>` storage); times from
//! 2024-03-01 08:00 UTC.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// 2024-03-01T08:00:00Z in milliseconds.
pub const BASE_MS: i64 = 1_709_280_000_000;
const HOUR: i64 = 3_600_000;
/// The bucket BIM 360 Docs keeps files in.
pub const BUCKET: &str = "wip.dm.prod";
pub const ACC_HUB: &str = "b.622cb5d1-581b-4a46-a6d9-4ebc68ea4051";
pub const TEAM_HUB: &str = "a.ZXhhbXBsZTp3aXAxZnFhYXV0b2Rlc2sxNjE";
pub const TOWER: &str = "b.c2960674-2d1e-4cc8-a5f0-4b9026fd3f5d";
pub const BRIDGE: &str = "b.3f1e0a52-8b1d-4c55-9e7a-6d2f0c1b9a10";
pub const DEPOT: &str = "b.9d4c2e17-5a3b-4f80-b1c6-2e7d8a9f0b21";
const CONCEPT: &str = "a.cGVyc29uYWw6cGUyOWM4YjZiI0QyMDI0";

pub struct Hub {
    pub id: String,
    pub name: String,
    /// `hubs:autodesk.bim360:Account` or `hubs:autodesk.core:Hub`.
    pub kind: &'static str,
    pub region: &'static str,
}

pub struct Project {
    pub id: String,
    pub hub: String,
    pub name: String,
    /// `ACC`, `BIM360`, or none (a team hub's project).
    pub project_type: Option<&'static str>,
    pub root: String,
}

pub struct Folder {
    pub id: String,
    pub project: String,
    /// The project's root folder for a top folder.
    pub parent: String,
    pub name: String,
    pub created: i64,
    pub modified: i64,
    pub hidden: bool,
    /// The user may not open it (`403` on its contents).
    pub locked: bool,
}

pub struct Item {
    pub id: String,
    pub project: String,
    pub folder: String,
    pub created: i64,
    pub modified: i64,
    pub hidden: bool,
    /// `File` or `Document` (a Plans sheet).
    pub kind: &'static str,
}

pub struct Version {
    pub id: String,
    pub item: String,
    pub number: u32,
    pub name: String,
    pub mime: &'static str,
    pub size: u64,
    pub created: i64,
    pub modified: i64,
    /// The object key in [`BUCKET`], if the version has a file.
    pub object: Option<String>,
}

pub struct Issue {
    /// The project's id without `b.`.
    pub project: String,
    pub value: Value,
}

#[derive(Default)]
pub struct Account {
    pub hubs: Vec<Hub>,
    pub projects: Vec<Project>,
    pub folders: Vec<Folder>,
    pub items: Vec<Item>,
    pub versions: Vec<Version>,
    pub issues: Vec<Issue>,
    /// Object storage: key → bytes.
    pub objects: BTreeMap<String, Vec<u8>>,
    next: u64,
}

/// A small IFC-SPF (ISO 10303-21) model of the tower, `n`-th revision.
pub fn ifc(n: u32) -> Vec<u8> {
    format!(
        "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('ViewDefinition [CoordinationView_V2.0]'),'2;1');\n\
         FILE_NAME('Tower.ifc','2024-03-01T08:00:00',('Wharf'),('Wharf Builders'),'IfcOpenShell','Revit 2024','rev {n}');\n\
         FILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n\
         #1=IFCPROJECT('2O2Fr$t4X7Zf8NOew3FLOH',$,'Tower A',$,$,$,$,$,$);\n\
         #2=IFCSITE('0KMpiAlnb52RgQuM1CwVfd',$,'Site',$,$,$,$,$,.ELEMENT.,$,$,0.,$,$);\n\
         #3=IFCBUILDING('0yf_M5JZv9QQXly4dq_zvI',$,'Tower A',$,$,$,$,$,.ELEMENT.,$,$,$);\n\
         #4=IFCBUILDINGSTOREY('1kTvXnbbzCWw8lcMd1dR4o',$,'Level {n}',$,$,$,$,$,.ELEMENT.,{:.1});\n\
         #5=IFCWALL('3vB2YO$MX4xv5uCqZZG05x',$,'Basic Wall:Exterior - 300mm',$,$,$,$,$,.STANDARD.);\n\
         #6=IFCRELAGGREGATES('2YBqaV_8L15eWJ9DA1sGmT',$,$,$,#1,(#2));\n\
         #7=IFCRELCONTAINEDINSPATIALSTRUCTURE('3Sa3dTJGn0H8TQIGiuGQd5',$,$,$,(#5),#4);\n\
         ENDSEC;\nEND-ISO-10303-21;\n",
        3.5 * f64::from(n)
    )
    .into_bytes()
}

impl Account {
    fn tag(&mut self) -> String {
        self.next += 1;
        format!("Wh{:020}", self.next * 7_919)
    }

    fn folder(&mut self, project: &str, parent: &str, name: &str, at: i64) -> String {
        let id = format!("urn:adsk.wipprod:fs.folder:co.{}", self.tag());
        self.folders.push(Folder {
            id: id.clone(),
            project: project.into(),
            parent: parent.into(),
            name: name.into(),
            created: at,
            modified: at,
            hidden: false,
            locked: false,
        });
        id
    }

    fn item(&mut self, project: &str, folder: &str, kind: &'static str, at: i64) -> String {
        let id = format!("urn:adsk.wipprod:dm.lineage:{}", self.tag());
        self.items.push(Item {
            id: id.clone(),
            project: project.into(),
            folder: folder.into(),
            created: at,
            modified: at,
            hidden: false,
            kind,
        });
        id
    }

    /// A new version of `item` named `name` with `content` (its size
    /// `size`, if the stored size should differ from the content's).
    fn version(
        &mut self,
        item: &str,
        name: &str,
        content: &[u8],
        size: Option<u64>,
        at: i64,
    ) -> String {
        let number = self.versions.iter().filter(|v| v.item == item).count() as u32 + 1;
        let lineage = item.rsplit(':').next().unwrap_or_default();
        let id = format!("urn:adsk.wipprod:fs.file:vf.{lineage}?version={number}");
        let ext = name
            .rsplit('.')
            .next()
            .unwrap_or("bin")
            .to_ascii_lowercase();
        let key = format!(
            "{:08x}-9f2c-4a1e-8d3b-{:012x}.{ext}",
            self.next * 31,
            self.next * 7_919
        );
        self.next += 1;
        self.objects.insert(key.clone(), content.to_vec());
        let mime = match ext.as_str() {
            "pdf" => "application/pdf",
            "ifc" => "application/x-step",
            _ => "application/octet-stream",
        };
        self.versions.push(Version {
            id: id.clone(),
            item: item.into(),
            number,
            name: name.into(),
            mime,
            size: size.unwrap_or(content.len() as u64),
            created: at,
            modified: at,
            object: Some(key),
        });
        if let Some(i) = self.items.iter_mut().find(|i| i.id == item) {
            i.modified = i.modified.max(at);
        }
        id
    }

    /// A new version of the item whose tip is named `name`, as an upload
    /// at `at` would make it; its id.
    pub fn upload(&mut self, name: &str, content: &[u8], at: i64) -> String {
        let item = self.item_named(name).id.clone();
        self.version(&item, name, content, None, at)
    }

    /// The item whose tip version is named `name`.
    pub fn item_named(&self, name: &str) -> &Item {
        self.items
            .iter()
            .find(|i| self.tip(&i.id).is_some_and(|v| v.name == name))
            .unwrap_or_else(|| panic!("no item {name}"))
    }

    /// The newest version of `item`.
    pub fn tip(&self, item: &str) -> Option<&Version> {
        self.versions
            .iter()
            .filter(|v| v.item == item)
            .max_by_key(|v| v.number)
    }

    /// An item's `lastModifiedTime`: its own, or its newest version's.
    pub fn item_modified(&self, item: &Item) -> i64 {
        self.tip(&item.id)
            .map_or(item.modified, |v| v.modified.max(item.modified))
    }

    /// A folder's `lastModifiedTimeRollup`: the newest change of the
    /// folder or of anything below it.
    pub fn rollup(&self, folder: &Folder) -> i64 {
        let items = self
            .items
            .iter()
            .filter(|i| i.folder == folder.id)
            .map(|i| self.item_modified(i));
        let below = self
            .folders
            .iter()
            .filter(|f| f.parent == folder.id)
            .map(|f| self.rollup(f));
        items.chain(below).fold(folder.modified, i64::max)
    }

    /// The issue numbered `display_id`.
    pub fn issue(&mut self, display_id: u64) -> &mut Value {
        &mut self
            .issues
            .iter_mut()
            .find(|i| i.value["displayId"] == json!(display_id))
            .unwrap_or_else(|| panic!("no issue {display_id}"))
            .value
    }

    fn add_issue(
        &mut self,
        project: &str,
        title: &str,
        status: &str,
        linked: Option<&str>,
        at: i64,
    ) {
        let n = self.issues.len() as u64 + 1;
        let id = format!("3570f222-6c54-4b01-90e6-{:012x}", n * 0x9e37);
        let documents: Vec<Value> = linked.into_iter().map(|urn| json!({
            "type": "TwoDVectorPushpin", "urn": urn, "createdBy": "A3RGM375QTZ7",
            "createdAt": super::iso(at), "createdAtVersion": 1,
            "details": {"viewable": {"id": "24820322-7c54-4a01-93e6-e701749f0345", "guid": "24820322-7c54-4a01-93e6-e701749f0345",
                "viewableId": "42", "name": "3D view of the 3rd floor of the building", "is3D": true},
                "position": {"x": 2, "y": 3, "z": 8}, "objectId": 1220,
                "externalId": "01a239ce-47cc-4e94-8aa3-2a39866cfc61", "viewerState": {}}})).collect();
        // In three parts: one `json!` of 40-odd keys nears the macro
        // recursion limit.
        let at = super::iso(at);
        let mut value = json!({
            "id": id, "containerId": "2220f222-6c54-4b01-90e6-d701748f0222", "deleted": false,
            "deletedAt": null, "deletedBy": null, "displayId": n, "title": title,
            "description": format!("{title} Please fix this."), "snapshotUrn": "",
            "issueTypeId": "8770f222-6c54-4e01-93e6-e701749f0222",
            "issueSubtypeId": "1370f222-6c54-3a01-93e6-e701749f0222", "status": status,
            "assignedTo": "A3RGM375QTZ7", "assignedToType": "user"
        });
        let middle = json!({
            "dueDate": "2024-04-25", "startDate": "2024-03-01",
            "locationId": "35de6f24-39f5-4808-ba5f-6cbbe2a858e1",
            "locationDetails": "Level 3, grid C4", "linkedDocuments": documents, "links": [],
            "ownerId": "", "rootCauseId": "2370f222-6c54-3a01-93e6-f701772f0222",
            "officialResponse": {}, "issueTemplateId": "",
            "permittedStatuses": ["open", "closed"],
            "permittedAttributes": ["title", "description", "status"], "published": true,
            "permittedActions": ["add_comment"]
        });
        let last = json!({
            "commentCount": 1, "attachmentCount": 0, "openedBy": "A3RGM375QTZ7", "openedAt": at,
            "closedBy": null, "closedAt": null, "createdBy": "A3RGM375QTZ7", "createdAt": at,
            "updatedBy": "A3RGM375QTZ7", "updatedAt": at, "watchers": ["A3RGM375QTZ7"],
            "customAttributes": [{"attributeDefinitionId": "2220f222-6c54-4b01-90e6-d701748f0888",
                "value": "368", "type": "numeric", "title": "Cost Impact ($)"}],
            "gpsCoordinates": {"latitude": 35.7795897, "longitude": -78.6381787},
            "snapshotHasMarkups": false
        });
        for part in [middle, last] {
            if let (Some(into), Value::Object(from)) = (value.as_object_mut(), part) {
                into.extend(from);
            }
        }
        self.issues.push(Issue {
            project: project.trim_start_matches("b.").to_string(),
            value,
        });
    }
}

/// The demo account.
pub fn demo() -> Account {
    let mut a = Account::default();
    let h = |n: i64| BASE_MS + n * HOUR;
    a.hubs.push(Hub {
        id: ACC_HUB.into(),
        name: "Wharf Builders".into(),
        kind: "hubs:autodesk.bim360:Account",
        region: "US",
    });
    a.hubs.push(Hub {
        id: TEAM_HUB.into(),
        name: "my team hub".into(),
        kind: "hubs:autodesk.core:Hub",
        region: "US",
    });
    let projects = [
        (TOWER, ACC_HUB, "Tower A", Some("ACC")),
        (BRIDGE, ACC_HUB, "Bridge B", Some("ACC")),
        (DEPOT, ACC_HUB, "Legacy Depot", Some("BIM360")),
        (CONCEPT, TEAM_HUB, "Concept Designs", None),
    ];
    for (id, hub, name, project_type) in projects {
        let root = format!("urn:adsk.wipprod:fs.folder:co.{}", a.tag());
        a.projects.push(Project {
            id: id.into(),
            hub: hub.into(),
            name: name.into(),
            project_type,
            root,
        });
    }
    let root = |a: &Account, p: &str| a.projects.iter().find(|x| x.id == p).unwrap().root.clone();

    // Tower A: Project Files/{Models, Archive, Contracts}, Plans.
    let r = root(&a, TOWER);
    let files = a.folder(TOWER, &r, "Project Files", h(0));
    let plans = a.folder(TOWER, &r, "Plans", h(0));
    let models = a.folder(TOWER, &files, "Models", h(1));
    let archive = a.folder(TOWER, &files, "Archive", h(1));
    let contracts = a.folder(TOWER, &files, "Contracts", h(1));
    a.folders
        .iter_mut()
        .find(|f| f.id == contracts)
        .unwrap()
        .locked = true;
    let tower_ifc = a.item(TOWER, &models, "items:autodesk.bim360:File", h(2));
    a.version(&tower_ifc, "Tower.ifc", &ifc(1), None, h(2));
    let tower_rvt = a.item(TOWER, &models, "items:autodesk.bim360:File", h(3));
    a.version(
        &tower_rvt,
        "Tower.rvt",
        b"RVT\x00\x01fake revit model, revision 1",
        None,
        h(3),
    );
    a.version(
        &tower_rvt,
        "Tower.rvt",
        b"RVT\x00\x02fake revit model, revision 2",
        None,
        h(5),
    );
    let old = a.item(TOWER, &models, "items:autodesk.bim360:File", h(2));
    a.version(&old, "Old.ifc", &ifc(0), None, h(2));
    a.items.iter_mut().find(|i| i.id == old).unwrap().hidden = true;
    let specs = a.item(TOWER, &files, "items:autodesk.bim360:File", h(4));
    a.version(
        &specs,
        "Specs.pdf",
        b"%PDF-1.4\n% specifications\n%%EOF\n",
        None,
        h(4),
    );
    let scan = a.item(TOWER, &archive, "items:autodesk.bim360:File", h(1));
    a.version(
        &scan,
        "Survey 2019.dwg",
        b"AC1032 fake drawing of the 2019 survey",
        None,
        h(1),
    );
    let sheet = a.item(TOWER, &plans, "items:autodesk.bim360:Document", h(6));
    a.version(
        &sheet,
        "A-101.pdf",
        b"%PDF-1.4\n% sheet A-101\n%%EOF\n",
        None,
        h(6),
    );

    // Bridge B: Project Files/Coordination.
    let r = root(&a, BRIDGE);
    let files = a.folder(BRIDGE, &r, "Project Files", h(7));
    let coordination = a.folder(BRIDGE, &files, "Coordination", h(7));
    let nwd = a.item(BRIDGE, &coordination, "items:autodesk.bim360:File", h(8));
    a.version(
        &nwd,
        "Bridge.nwd",
        b"NWD fake navisworks model of the bridge",
        None,
        h(8),
    );
    let site = a.item(BRIDGE, &coordination, "items:autodesk.bim360:File", h(9));
    a.version(
        &site,
        "Site.dwg",
        b"AC1032 fake site drawing",
        Some(5 << 20),
        h(9),
    );

    // Legacy Depot (BIM 360): Project Files.
    let r = root(&a, DEPOT);
    let files = a.folder(DEPOT, &r, "Project Files", h(10));
    let depot = a.item(DEPOT, &files, "items:autodesk.bim360:File", h(10));
    a.version(
        &depot,
        "Depot.rvt",
        b"RVT\x00\x01fake revit model of the depot",
        None,
        h(10),
    );

    // Concept Designs (team hub): an empty folder.
    let r = root(&a, CONCEPT);
    a.folder(CONCEPT, &r, "Sketches", h(11));

    a.add_issue(
        TOWER,
        "Door missing a screw.",
        "open",
        Some(tower_ifc.as_str()),
        h(12),
    );
    a.add_issue(TOWER, "Handrail height below code.", "open", None, h(13));
    a.add_issue(
        TOWER,
        "Duplicate of the handrail issue.",
        "draft",
        None,
        h(14),
    );
    a.add_issue(TOWER, "Slab edge exposed.", "in_review", None, h(15));
    a.add_issue(BRIDGE, "Bearing pad misaligned.", "open", None, h(16));
    a
}
