package awsfake

import "encoding/xml"

// The response documents of CloudFormation's query protocol: <XResponse>
// holding <XResult> and <ResponseMetadata>, lists as <member> elements.

func xmlName(local string) xml.Name { return xml.Name{Local: local} }

type cfnMeta struct {
	RequestID string `xml:"RequestId"`
}

type cfnStackIDResult struct {
	XMLName xml.Name
	StackID string `xml:"StackId"`
}

type cfnStackIDResponse struct {
	XMLName xml.Name
	Xmlns   string           `xml:"xmlns,attr"`
	Result  cfnStackIDResult `xml:""`
	Meta    cfnMeta          `xml:"ResponseMetadata"`
}

// cfnEmptyResponse answers actions without output; some have an empty
// <XResult> the SDK insists on, others none.
type cfnEmptyResponse struct {
	XMLName xml.Name
	Xmlns   string          `xml:"xmlns,attr"`
	Result  *cfnEmptyResult `xml:""`
	Meta    cfnMeta         `xml:"ResponseMetadata"`
}

type cfnEmptyResult struct{ XMLName xml.Name }

type cfnParamXML struct {
	Key   string `xml:"ParameterKey"`
	Value string `xml:"ParameterValue"`
}

type cfnOutputXML struct {
	Key         string `xml:"OutputKey"`
	Value       string `xml:"OutputValue"`
	Description string `xml:"Description,omitempty"`
}

type cfnTagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type cfnStackXML struct {
	StackID           string         `xml:"StackId"`
	StackName         string         `xml:"StackName"`
	Description       string         `xml:"Description,omitempty"`
	Parameters        []cfnParamXML  `xml:"Parameters>member"`
	CreationTime      string         `xml:"CreationTime"`
	LastUpdatedTime   string         `xml:"LastUpdatedTime,omitempty"`
	DeletionTime      string         `xml:"DeletionTime,omitempty"`
	StackStatus       string         `xml:"StackStatus"`
	StackStatusReason string         `xml:"StackStatusReason,omitempty"`
	DisableRollback   bool           `xml:"DisableRollback"`
	Capabilities      []string       `xml:"Capabilities>member"`
	Outputs           []cfnOutputXML `xml:"Outputs>member"`
	Tags              []cfnTagXML    `xml:"Tags>member"`
}

type cfnDescribeStacksResponse struct {
	XMLName xml.Name `xml:"DescribeStacksResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Stacks    []cfnStackXML `xml:"Stacks>member"`
		NextToken string        `xml:"NextToken,omitempty"`
	} `xml:"DescribeStacksResult"`
	Meta cfnMeta `xml:"ResponseMetadata"`
}

type cfnEventXML struct {
	StackID              string `xml:"StackId"`
	EventID              string `xml:"EventId"`
	StackName            string `xml:"StackName"`
	LogicalResourceID    string `xml:"LogicalResourceId"`
	PhysicalResourceID   string `xml:"PhysicalResourceId"`
	ResourceType         string `xml:"ResourceType"`
	Timestamp            string `xml:"Timestamp"`
	ResourceStatus       string `xml:"ResourceStatus"`
	ResourceStatusReason string `xml:"ResourceStatusReason,omitempty"`
}

type cfnDescribeStackEventsResponse struct {
	XMLName xml.Name `xml:"DescribeStackEventsResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Events    []cfnEventXML `xml:"StackEvents>member"`
		NextToken string        `xml:"NextToken,omitempty"`
	} `xml:"DescribeStackEventsResult"`
	Meta cfnMeta `xml:"ResponseMetadata"`
}

type cfnStackSummaryXML struct {
	StackID             string `xml:"StackId"`
	StackName           string `xml:"StackName"`
	TemplateDescription string `xml:"TemplateDescription,omitempty"`
	CreationTime        string `xml:"CreationTime"`
	LastUpdatedTime     string `xml:"LastUpdatedTime,omitempty"`
	DeletionTime        string `xml:"DeletionTime,omitempty"`
	StackStatus         string `xml:"StackStatus"`
	StackStatusReason   string `xml:"StackStatusReason,omitempty"`
}

type cfnListStacksResponse struct {
	XMLName xml.Name `xml:"ListStacksResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Summaries []cfnStackSummaryXML `xml:"StackSummaries>member"`
		NextToken string               `xml:"NextToken,omitempty"`
	} `xml:"ListStacksResult"`
	Meta cfnMeta `xml:"ResponseMetadata"`
}

type cfnCreateChangeSetResponse struct {
	XMLName xml.Name `xml:"CreateChangeSetResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	ID      string   `xml:"CreateChangeSetResult>Id"`
	StackID string   `xml:"CreateChangeSetResult>StackId"`
	Meta    cfnMeta  `xml:"ResponseMetadata"`
}

type cfnChangeXML struct {
	Type           string `xml:"Type"`
	ResourceChange struct {
		Action             string `xml:"Action"`
		LogicalResourceID  string `xml:"LogicalResourceId"`
		PhysicalResourceID string `xml:"PhysicalResourceId,omitempty"`
		ResourceType       string `xml:"ResourceType"`
		Replacement        string `xml:"Replacement,omitempty"`
	} `xml:"ResourceChange"`
}

type cfnDescribeChangeSetResponse struct {
	XMLName xml.Name `xml:"DescribeChangeSetResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		ChangeSetName   string         `xml:"ChangeSetName"`
		ChangeSetID     string         `xml:"ChangeSetId"`
		StackID         string         `xml:"StackId"`
		StackName       string         `xml:"StackName"`
		Description     string         `xml:"Description,omitempty"`
		Parameters      []cfnParamXML  `xml:"Parameters>member"`
		CreationTime    string         `xml:"CreationTime"`
		ExecutionStatus string         `xml:"ExecutionStatus"`
		Status          string         `xml:"Status"`
		StatusReason    string         `xml:"StatusReason,omitempty"`
		Capabilities    []string       `xml:"Capabilities>member"`
		Tags            []cfnTagXML    `xml:"Tags>member"`
		Changes         []cfnChangeXML `xml:"Changes>member"`
	} `xml:"DescribeChangeSetResult"`
	Meta cfnMeta `xml:"ResponseMetadata"`
}

type cfnTemplateParamXML struct {
	Key          string `xml:"ParameterKey"`
	DefaultValue string `xml:"DefaultValue,omitempty"`
	NoEcho       bool   `xml:"NoEcho"`
	Description  string `xml:"Description,omitempty"`
}

type cfnValidateTemplateResponse struct {
	XMLName xml.Name `xml:"ValidateTemplateResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Parameters         []cfnTemplateParamXML `xml:"Parameters>member"`
		Description        string                `xml:"Description,omitempty"`
		Capabilities       []string              `xml:"Capabilities>member"`
		CapabilitiesReason string                `xml:"CapabilitiesReason,omitempty"`
	} `xml:"ValidateTemplateResult"`
	Meta cfnMeta `xml:"ResponseMetadata"`
}

type cfnGetTemplateResponse struct {
	XMLName xml.Name `xml:"GetTemplateResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		TemplateBody string   `xml:"TemplateBody"`
		Stages       []string `xml:"StagesAvailable>member"`
	} `xml:"GetTemplateResult"`
	Meta cfnMeta `xml:"ResponseMetadata"`
}
